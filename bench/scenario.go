package main

import (
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// payload is a 2 KiB GitHub push event; every request carries it with its
// "bench_seq" field set to the request's sequence number, so that no two
// bodies (nor signatures, nor delivery ids) are alike.
//
//go:embed testdata/push.json
var payload string

// seqField is where the sequence number goes in payload: 16 hex digits.
const seqField = `"bench_seq": "`

// Secrets the scenarios' hooks are configured with.
const (
	benchToken  = "bench-token"
	benchSecret = "bench-secret"
)

// scenario is one server configuration under load.
type scenario struct {
	Key  string // a, b, ... as the issue names them
	Name string
	// Ceiling marks the bare net/http server every other scenario is
	// compared with.
	Ceiling bool
	// Hook is the YAML of the one hook (postbox scenarios).
	Hook string
	// Path is where requests go.
	Path string
	// GitHub signs each request as GitHub does.
	GitHub bool
	// Exec marks hooks whose action runs from the queue: the harness
	// counts the attempts that completed.
	Exec bool
	// Slow marks an exec hook whose command outlasts the load: the harness
	// does not wait for its backlog to drain.
	Slow bool
	// DrainRate measures, at the largest connection count, how fast the
	// backlog of actions drains once the load ends (up to a minute).
	DrainRate bool
	// Timed puts the time of sending in each body (bench_sent), for a
	// sink to measure when the delivery arrived.
	Timed bool
}

// scenarios are a–e, f and j (a condition), in order. f: the design asks that exec
// hooks be accepted at 0.8× (b) "whatever the command's run time", which d
// (a command that takes no time) cannot show on its own.
func scenarios() []scenario {
	const tokenAuth = "    auth: {token: {header: X-Token, secret: " + benchToken + "}}\n"
	const execAction = "    actions:\n" +
		"      - exec: {command: /bin/true, args: [\"{{ .Payload.ref }}\", \"{{ .Delivery.ID }}\"], timeout: 10s}\n"
	const sleepAction = "    actions:\n" +
		"      - exec: {command: sleep, args: [\"1\"], env: {REF: \"{{ .Payload.ref }}\"}, timeout: 10s}\n"
	const ok = "    response: {status: 200, body: SUCCESS}\n"
	return []scenario{
		{Key: "a", Name: "ceiling: bare net/http 200", Ceiling: true, Path: "/hooks/bench"},
		{Key: "b", Name: "token JSON, durable store", Path: "/hooks/bench",
			Hook: "  - id: bench\n" + tokenAuth + ok},
		{Key: "c", Name: "github HMAC, durable store", Path: "/hooks/bench", GitHub: true,
			Hook: "  - id: bench\n    auth: {github: {secret: " + benchSecret + "}}\n" + ok},
		{Key: "d", Name: "exec /bin/true, async", Path: "/hooks/bench", Exec: true, DrainRate: true,
			Hook: "  - id: bench\n" + tokenAuth + execAction + ok},
		{Key: "e", Name: "exec /bin/true, sync", Path: "/hooks/bench", Exec: true,
			Hook: "  - id: bench\n    mode: sync\n    timeout: 10s\n" + tokenAuth + execAction + ok},
		{Key: "f", Name: "exec sleep 1, async", Path: "/hooks/bench", Exec: true, Slow: true,
			Hook: "  - id: bench\n" + tokenAuth + sleepAction + ok},
		// c with a condition, as docs/rules.md's first GitHub example:
		// what a when: costs at ingest.
		{Key: "j", Name: "github HMAC + when:, durable store", Path: "/hooks/bench", GitHub: true,
			Hook: "  - id: bench\n    auth: {github: {secret: " + benchSecret + "}}\n" +
				"    when: header[\"X-GitHub-Event\"] == \"push\" && payload.ref == \"refs/heads/main\"\n" + ok},
	}
}

// writeConfig writes postbox.yaml for s into dir and returns its path.
// admin is the admin listener's address or "off"; workers is the queue's
// size, 0 for postbox's default.
func (s scenario) writeConfig(dir, listen, admin string, workers int) (string, error) {
	cfg := fmt.Sprintf("listen: %s\nadmin: %s\ndata: %s\nlimits: {max_body: 1MiB, read_timeout: 10s}\n",
		listen, admin, filepath.Join(dir, "data"))
	if workers > 0 {
		cfg += fmt.Sprintf("workers: %d\n", workers)
	}
	cfg += "hooks:\n" + s.Hook
	path := filepath.Join(dir, "postbox.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// requests returns the function that writes the scenario's requests to
// host.
func (s scenario) requests(host string) (requestFunc, error) {
	at := strings.Index(payload, seqField)
	if at < 0 {
		return nil, errors.New("testdata/push.json has no " + seqField + " field")
	}
	before, after := payload[:at+len(seqField)], payload[at+len(seqField)+16:]
	length := len(payload)
	if s.Timed {
		length = len(timedBody(nil, 0, 0))
	}
	head := "POST " + s.Path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: postbox-bench\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(length) + "\r\n"
	return func(b []byte, seq uint64) []byte {
		if s.Timed {
			b = append(b, head...)
			b = append(b, "X-Token: "+benchToken+"\r\n\r\n"...)
			return timedBody(b, seq, time.Now().UnixNano())
		}
		var seqHex [16]byte
		hex.Encode(seqHex[:], binary.BigEndian.AppendUint64(nil, seq))
		b = append(b, head...)
		if s.GitHub {
			mac := hmac.New(sha256.New, []byte(benchSecret))
			io.WriteString(mac, before)
			mac.Write(seqHex[:])
			io.WriteString(mac, after)
			b = append(b, "X-GitHub-Event: push\r\nX-GitHub-Delivery: bench-"...)
			b = append(b, seqHex[:]...)
			b = append(b, "\r\nX-Hub-Signature-256: sha256="...)
			b = hex.AppendEncode(b, mac.Sum(nil))
			b = append(b, "\r\n"...)
		} else {
			b = append(b, "X-Token: "+benchToken+"\r\n"...)
		}
		b = append(b, "\r\n"...)
		b = append(b, before...)
		b = append(b, seqHex[:]...)
		return append(b, after...)
	}, nil
}

// seqAt is the offset of bench_seq's 16 hex digits in payload.
var seqAt = sync.OnceValue(func() int {
	at := strings.Index(payload, seqField)
	if at < 0 {
		panic("testdata/push.json has no " + seqField + " field")
	}
	return at + len(seqField)
})

// timedBody appends payload to b with bench_seq set to seq and, after it,
// a bench_sent field holding sent (UnixNano) in 19 digits, so that every
// timed body has the same length.
func timedBody(b []byte, seq uint64, sent int64) []byte {
	at := seqAt()
	b = append(b, payload[:at]...)
	b = hex.AppendEncode(b, binary.BigEndian.AppendUint64(nil, seq))
	b = append(b, `", `+sentField...)
	digits := strconv.AppendInt(nil, sent, 10)
	for range 19 - len(digits) {
		b = append(b, '0')
	}
	b = append(b, digits...)
	b = append(b, '"')
	return append(b, payload[at+17:]...) // after the 16 digits and their quote
}

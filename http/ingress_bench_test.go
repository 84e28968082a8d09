package http_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
	phttp "github.com/postbox/postbox/http"
	"github.com/postbox/postbox/sqlite"
)

// benchHooks are twenty hooks at distinct paths, as a busy configuration
// has, plus the benchmark's own two.
func benchHooks() string {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "  - id: h%d\n    path: /hooks/h%d/{repo}\n    auth: {token: {secret: s%d}}\n", i, i, i)
	}
	b.WriteString("  - id: bench\n    auth: {token: {header: X-Token, secret: bench-token}}\n    response: {status: 200, body: SUCCESS}\n")
	b.WriteString("  - id: gh\n    auth: {github: {secret: bench-secret}}\n    response: {status: 200, body: SUCCESS}\n")
	return b.String()
}

// newBenchServer builds the ingress for benchHooks on a durable SQLite
// store in a temporary directory (nil store when withStore is false: the
// requests must then be rejected before storage).
func newBenchServer(b *testing.B, withStore bool) *phttp.Server {
	cfg, err := config.Parse("bench.yaml", []byte("hooks:\n"+benchHooks()), func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	o := phttp.Options{Hooks: cfg.Hooks}
	if withStore {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "postbox.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		o.Store = db
	}
	return phttp.NewServer(o)
}

// discard is a ResponseWriter that keeps only the status, so that the
// benchmarks measure the handler rather than a recorder.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(status int)      { d.status = status }

// serveOnce sends r with body through srv and returns the status.
func serveOnce(srv http.Handler, w *discard, r *http.Request, body []byte) int {
	clear(w.h)
	w.status = http.StatusOK
	// A request of its own, as net/http makes one per request: the
	// handler redacts credentials in the header it is given.
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	srv.ServeHTTP(w, r)
	return w.status
}

func benchBody(b *testing.B) []byte {
	body, err := os.ReadFile("../bench/testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkRoute measures requests the ingress rejects before storage, on a
// configuration of 22 hooks: no hook at the path (404, the ServeMux lookup
// alone), a wrong method (405, lookup and the hook's first check), and a
// wrong token with the 2 KiB JSON body (401: lookup, read, parse,
// authenticate, the error answer).
func BenchmarkRoute(b *testing.B) {
	srv := newBenchServer(b, false)
	body := benchBody(b)
	for _, tt := range []struct {
		name, method, path string
		header             http.Header
		body               []byte
		want               int
	}{
		{"404", "POST", "/hooks/none", nil, nil, 404},
		{"405", "GET", "/hooks/bench", nil, nil, 405},
		{"401", "POST", "/hooks/bench", http.Header{"X-Token": {"wrong"}, "Content-Type": {"application/json"}}, body, 401},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r, err := http.NewRequest(tt.method, "http://127.0.0.1"+tt.path, nil)
			if err != nil {
				b.Fatal(err)
			}
			r.RemoteAddr, r.RequestURI = "127.0.0.1:40000", tt.path
			if tt.header != nil {
				r.Header = tt.header
			}
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				if got := serveOnce(srv, w, r, tt.body); got != tt.want {
					b.Fatalf("status %d, want %d", got, tt.want)
				}
			}
		})
	}
}

// BenchmarkIngress measures accepted requests through the handler, without
// the network: the 2 KiB JSON body is read, parsed, authenticated (token
// or github HMAC), stored durably (WAL fsync'd before the answer, group commit) and
// answered. single waits for each commit; parallel64 has 64 requests in
// flight, as the harness's 64 connections, sharing commits.
func BenchmarkIngress(b *testing.B) {
	body := benchBody(b)
	mac := hmac.New(sha256.New, []byte("bench-secret"))
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	var seq atomic.Int64
	request := func(hook string) *http.Request {
		r, _ := http.NewRequest("POST", "http://127.0.0.1/hooks/"+hook, nil)
		r.RemoteAddr, r.RequestURI = "127.0.0.1:40000", "/hooks/"+hook
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Token", "bench-token")
		r.Header.Set("X-Hub-Signature-256", sig)
		return r
	}
	for _, hook := range []string{"bench", "gh"} {
		for _, mode := range []string{"single", "parallel64"} {
			b.Run(hook+"/"+mode, func(b *testing.B) {
				srv := newBenchServer(b, true)
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				cpu0 := cpuTime()
				// CPU per request shares less of a busy machine's noise
				// than ns/op, which includes waiting for fsync.
				defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
				one := func(w *discard, r *http.Request) bool {
					// A unique delivery id: GitHub's dedup key.
					r.Header.Set("X-Github-Delivery", fmt.Sprint(seq.Add(1)))
					if got := serveOnce(srv, w, r, body); got != 200 {
						b.Errorf("status %d", got)
						return false
					}
					return true
				}
				if mode == "single" {
					w, r := &discard{h: http.Header{}}, request(hook)
					for b.Loop() {
						if !one(w, r) {
							return
						}
					}
					return
				}
				b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					w, r := &discard{h: http.Header{}}, request(hook)
					for pb.Next() {
						if !one(w, r) {
							return
						}
					}
				})
			})
		}
	}
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

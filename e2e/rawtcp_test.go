package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// clte is a request with both Content-Length and Transfer-Encoding: the
// smuggling probe. It is taken by its (empty) chunked body and answered
// with Connection: close; the connection then closes, so that nothing
// pipelined behind it is served.
const clte = "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"

// closer ends a keep-alive exchange: the server answers it and closes, so
// that reading every answer never waits on an idle connection.
const closer = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

// answer is one HTTP response read off a raw connection.
type answer struct {
	status int
	header http.Header
	body   string
	close  bool // it said Connection: close
}

// exchangeRaw is exchange with the answers' headers and bodies, the
// deadline for the whole exchange, and the number of answers after which
// to stop reading (0: read until the server closes; closed is then false).
// An answer that says Connection: close is not taken at its word: reading
// goes on, whatever max, until the server closes (closed) or the deadline
// (not closed), and anything more it sends is another answer. Interim 1xx
// answers are skipped. When send starts with HEAD, the first answer is
// read as a HEAD's (no body).
func exchangeRaw(t *testing.T, addr string, send []byte, closeWrite bool, deadline time.Duration, max int) (answers []answer, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(deadline))
	// Write in the background: the server may answer and close before it
	// has read everything.
	go func() {
		c.Write(send)
		if closeWrite {
			c.(*net.TCPConn).CloseWrite()
		}
	}()
	br := bufio.NewReader(c)
	var req *http.Request
	if bytes.HasPrefix(send, []byte("HEAD ")) {
		req = &http.Request{Method: http.MethodHead}
	}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return answers, !errors.Is(err, os.ErrDeadlineExceeded)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 200 {
			answers = append(answers, answer{resp.StatusCode, resp.Header, string(body), resp.Close})
			req = nil
		}
		if err != nil {
			return answers, !errors.Is(err, os.ErrDeadlineExceeded)
		}
		if len(answers) == max && !resp.Close {
			return answers, false
		}
	}
}

// statusesMatch reports whether got matches want, one entry per answer: a
// status ("400"), a class ("4xx") or alternatives ("400|2xx").
func statusesMatch(got []int, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		ok := false
		for _, alt := range strings.Split(w, "|") {
			code := strconv.Itoa(got[i])
			ok = ok || alt == code || strings.HasSuffix(alt, "xx") && alt[0] == code[0]
		}
		if !ok {
			return false
		}
	}
	return true
}

// chunked encodes body in chunks of n bytes.
func chunked(body string, n int) string {
	var b strings.Builder
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// corpusCase is one file of testdata/corpus (see its README): raw bytes to
// send on one connection, and the answers they must get.
type corpusCase struct {
	name       string   // the file name without .req
	why        string   // what the case shows, as a sentence
	want       []string // one entry per answer, as statusesMatch takes them
	orClosed   bool     // the server may also close without any answer
	closeWrite bool     // half-close after sending, as a client that gave up
	body       string   // the last answer's body must contain this
	args       []string // the argv hook's command got exactly these arguments
	raw        []byte
}

// loadCorpus reads every *.req file in dir.
func loadCorpus(t *testing.T, dir string) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.req"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseCase(strings.TrimSuffix(filepath.Base(f), ".req"), data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cases = append(cases, c)
	}
	return cases
}

// parseCase reads one case: "key: value" lines (# starts a comment), a
// line "---", then the request.
func parseCase(name string, data []byte) (corpusCase, error) {
	c := corpusCase{name: name}
	head, raw, ok := strings.Cut(string(data), "\n---\n")
	if !ok {
		return c, errors.New(`no "---" line between the header and the request`)
	}
	for i, line := range strings.Split(head, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return c, fmt.Errorf("line %d: want key: value", i+1)
		}
		value = strings.TrimSpace(value)
		switch key {
		case "why":
			c.why = value
		case "want":
			c.want = strings.Fields(value)
		case "or-closed":
			c.orClosed = value == "yes"
		case "close-write":
			c.closeWrite = value == "yes"
		case "body":
			c.body = value
		case "args":
			if err := json.Unmarshal([]byte(value), &c.args); err != nil {
				return c, fmt.Errorf("line %d: args: %v", i+1, err)
			}
		default:
			return c, fmt.Errorf("line %d: unknown key %q", i+1, key)
		}
	}
	if c.why == "" || len(c.want) == 0 {
		return c, errors.New("why: and want: are required")
	}
	var err error
	c.raw, err = expandRequest(raw)
	return c, err
}

// expandRequest turns a case's request text into bytes: line breaks in
// the file are layout and dropped; \r \n \t \0 \xHH and \\ are escapes
// (any other backslash is kept); then {{ }} actions run as a text/template
// with corpusFuncs, whose output is taken byte for byte.
func expandRequest(text string) ([]byte, error) {
	text = strings.ReplaceAll(text, "\n", "")
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] != '\\' || i+1 == len(text) {
			b.WriteByte(text[i])
			continue
		}
		switch text[i+1] {
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '0':
			b.WriteByte(0)
		case '\\':
			b.WriteByte('\\')
		case 'x':
			v, err := strconv.ParseUint(text[i+2:min(i+4, len(text))], 16, 8)
			if err != nil {
				return nil, fmt.Errorf(`bad \x escape at byte %d`, i)
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			b.WriteByte('\\')
			continue
		}
		i++
	}
	tmpl, err := template.New("request").Funcs(corpusFuncs).Option("missingkey=error").Parse(b.String())
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, nil); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// corpusFuncs build the large or binary parts of corpus requests. With
// len (text/template's own) they make Content-Length right:
// {{ $b := nest 100000 "[" "]" }}Content-Length: {{ len $b }}\r\n\r\n{{ $b }}.
var corpusFuncs = template.FuncMap{
	// repeat N S is S N times.
	"repeat": func(n int, s string) string { return strings.Repeat(s, n) },
	// nest N OPEN CLOSE is OPEN N times, then CLOSE N times.
	"nest": func(n int, open, close string) string {
		return strings.Repeat(open, n) + strings.Repeat(close, n)
	},
	// chunked N BODY is BODY in chunks of N bytes, with the last chunk.
	"chunked": func(n int, body string) string { return chunked(body, n) },
	// multipart N BOUNDARY is a form of N fields f0..fN-1, closed.
	"multipart": func(n int, boundary string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "--%s\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n", boundary, i)
		}
		fmt.Fprintf(&b, "--%s--\r\n", boundary)
		return b.String()
	},
	// gzip S is S compressed with gzip (a bomb when S is large and dull).
	"gzip": func(s string) (string, error) {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := io.WriteString(zw, s); err != nil {
			return "", err
		}
		err := zw.Close()
		return b.String(), err
	},
}

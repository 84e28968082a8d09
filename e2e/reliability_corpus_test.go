package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// corpusDeadline bounds one case's whole exchange: a case that has not
// ended by then means the server hung.
const corpusDeadline = 15 * time.Second

// TestMalformedRequests sends every case of testdata/corpus (see its
// README) raw over TCP to one server, each on its own connection and all at
// once, and checks the answers. After each case the server must answer
// /healthz; after all of them the deliveries stored must be exactly the
// ones answered 2xx (a rejected request stores nothing), and the server's
// peak memory is logged and bounded.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testdata, "corpus")
	cases := loadCorpus(t, dir)
	if len(cases) < 100 {
		t.Errorf("the corpus has %d cases, want at least 100", len(cases))
	}
	config, err := os.ReadFile(filepath.Join(dir, "postbox.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, string(config))
	if err := os.Mkdir(filepath.Join(s.dir, "argv"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := s.memory()

	var (
		mu       sync.Mutex
		accepted = map[string]string{} // delivery id → case
		took     = map[string]time.Duration{}
	)
	t.Run("corpus", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				answers, closed := exchangeRaw(t, s.addr, c.raw, c.closeWrite, corpusDeadline, len(c.want))
				elapsed := time.Since(start)
				var got []int
				for _, a := range answers {
					got = append(got, a.status)
				}
				t.Logf("%s: answers %v, closed %v, in %s", c.name, got, closed, elapsed.Round(time.Millisecond))
				mu.Lock()
				took[c.name] = elapsed
				for _, a := range answers {
					if id := a.header.Get("Postbox-Delivery"); id != "" && a.status/100 == 2 {
						accepted[id] = c.name
					}
				}
				mu.Unlock()
				switch {
				case len(got) == 0 && c.orClosed && closed:
				case len(got) == 0 && !closed:
					t.Fatalf("%s: no answer within %s: the server hung", c.why, corpusDeadline)
				case !statusesMatch(got, c.want):
					t.Fatalf("%s: answers %v, want %v", c.why, got, c.want)
				case answers[len(answers)-1].close && !closed:
					t.Fatalf("%s: the last answer said Connection: close, but the connection stayed open", c.why)
				}
				if len(answers) > 0 {
					last := answers[len(answers)-1]
					if c.body != "" && !strings.Contains(last.body, c.body) {
						t.Errorf("%s: the answer's body %.200q does not contain %q", c.why, last.body, c.body)
					}
					if c.args != nil {
						checkArgs(t, s, last, c.args)
					}
				}
				if resp, err := s.client.Get(s.url + "/healthz"); err != nil {
					t.Errorf("healthz after the case: %v", err)
				} else if resp.Body.Close(); resp.StatusCode != 200 {
					t.Errorf("healthz after the case: %d", resp.StatusCode)
				}
			})
		}
	})

	resp, err := s.client.Get(s.url + "/healthz")
	if err != nil {
		t.Fatalf("healthz after the corpus: %v", err)
	}
	resp.Body.Close()
	// After the corpus, a CL+TE request still closes its connection: the
	// request behind it is never answered.
	answers, closed := exchangeRaw(t, s.addr, []byte(clte+closer), false, corpusDeadline, 0)
	var got []int
	for _, a := range answers {
		got = append(got, a.status)
		if id := a.header.Get("Postbox-Delivery"); id != "" && a.status/100 == 2 {
			accepted[id] = "the CL+TE request after the corpus"
		}
	}
	if !statusesMatch(got, []string{"2xx"}) || !closed || !answers[0].close {
		t.Errorf("after the corpus, a CL+TE request is answered %v (closed %v), want [2xx] with Connection: close, then closed", got, closed)
	}
	after := s.memory()
	t.Logf("%d cases; server memory before: %s; after: %s", len(cases), before, after)
	var slow []string
	for name := range took {
		slow = append(slow, name)
	}
	sort.Slice(slow, func(i, j int) bool { return took[slow[i]] > took[slow[j]] })
	for _, name := range slow[:min(5, len(slow))] {
		t.Logf("slowest: %s took %s", name, took[name].Round(time.Millisecond))
	}
	checkBounded(t, after)

	stored := s.deliveries("--limit", "100000")
	var extra []string
	for _, d := range stored {
		if _, ok := accepted[d.ID]; !ok {
			extra = append(extra, d.ID+" ("+d.Method+" "+d.Path+")")
		}
		delete(accepted, d.ID)
	}
	t.Logf("%d deliveries stored for the 2xx answers", len(stored))
	if len(extra) > 0 {
		t.Errorf("stored without a 2xx answer: %v", extra)
	}
	for id, name := range accepted {
		t.Errorf("case %s: delivery %s was answered 2xx but is not stored", name, id)
	}
}

// checkArgs waits for the arguments the argv hook's command recorded for
// the delivery a answered, and compares them with want.
func checkArgs(t *testing.T, s *server, a answer, want []string) {
	t.Helper()
	id := a.header.Get("Postbox-Delivery")
	if a.status/100 != 2 || id == "" {
		t.Errorf("args: the answer was %d without a delivery", a.status)
		return
	}
	file := filepath.Join(s.dir, "argv", id+".args")
	var raw []byte
	eventually(t, 20*time.Second, func() string {
		var err error
		if raw, err = os.ReadFile(file); err != nil {
			return "the command has not run: " + err.Error()
		}
		return ""
	})
	got := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
	if !slices.Equal(got, want) {
		t.Errorf("the command received\n  %q\nwant\n  %q", got, want)
	}
}

// TestCorpusFormat checks the corpus file format on known bytes: escapes,
// layout line breaks, templates and the header keys.
func TestCorpusFormat(t *testing.T) {
	t.Parallel()
	c, err := parseCase("example", []byte(`# a comment
why: the smuggling probe, then a request that closes
want: 400 2xx|404
or-closed: yes
close-write: yes
body: SUCCESS
args: ["a", "b"]
---
POST /post HTTP/1.1\r\n
Host: x\r\n
Content-Length: 3\r\n
Transfer-Encoding: chunked\r\n
\r\n
{{ chunked 5 "" }}
GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n
`))
	if err != nil {
		t.Fatal(err)
	}
	if string(c.raw) != clte+closer {
		t.Errorf("raw %q, want %q", c.raw, clte+closer)
	}
	if !slices.Equal(c.want, []string{"400", "2xx|404"}) || !c.orClosed || !c.closeWrite || c.body != "SUCCESS" || !slices.Equal(c.args, []string{"a", "b"}) {
		t.Errorf("parsed %+v", c)
	}
	for _, tt := range []struct{ text, want string }{
		{`a\0b\x7f\tc\\d\u0000`, "a\x00b\x7f\tc\\d\\u0000"},
		{`{{ $b := nest 2 "[" "]" }}{{ len $b }} {{ $b }}`, "4 [[]]"},
		{`{{ repeat 3 "ab" }}`, "ababab"},
		{`{{ multipart 1 "b" }}`, "--b\r\nContent-Disposition: form-data; name=\"f0\"\r\n\r\nv\r\n--b--\r\n"},
	} {
		got, err := expandRequest(tt.text)
		if err != nil || string(got) != tt.want {
			t.Errorf("expandRequest(%q) = %q, %v; want %q", tt.text, got, err, tt.want)
		}
	}
	for _, bad := range []string{"why: x\nwant: 200\n", "want: 200\n---\nx", "why: x\n---\nx", "why: x\nwant: 200\nwhat: y\n---\nx"} {
		if _, err := parseCase("bad", []byte(bad)); err == nil {
			t.Errorf("parseCase(%q) gave no error", bad)
		}
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// ingressConfig has one hook per kind of answer.
const ingressConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
limits:
  max_body: 1KiB
hooks:
  - id: lamp
    path: /post
    methods: [POST]
    auth:
      token: {header: X-Token, secret: s3cret}
    response: {status: 200, body: SUCCESS}
  - id: basic
    path: /basic
    auth:
      basic: {username: alice, password: "open sesame"}
  - id: parse
    path: /parse
  - id: raw
    path: /raw
    response: {body: "{{ .Payload }}"}
  - id: answer
    path: /answer/{thing}
    response:
      status: 202
      headers: {X-Answer: "42", Content-Type: text/x-answer}
      body: "{{ .Hook.ID }} got {{ .Payload.state }} for {{ .Path.thing }} as {{ .Delivery.ID }}"
  - id: hello
    path: /hello/{name}
    methods: [GET]
    response:
      body: "{{ default \"hello\" (.Query.Get \"greeting\") }}, {{ .Path.name }}!"
  - id: small
    path: /small
    max_body: 16
`

// request is one HTTP request of a table test.
type request struct {
	method  string
	path    string
	header  map[string]string
	body    string
	chunked bool // send the body with Transfer-Encoding: chunked
}

func (s *server) do(t *testing.T, r request) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if r.body != "" || r.chunked {
		body = strings.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // hides the length: chunked
		}
	}
	req, err := http.NewRequest(r.method, s.url+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", r.method, r.path, err)
	}
	return resp, string(b)
}

var (
	jsonType = map[string]string{"Content-Type": "application/json"}
	formType = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	multi    = map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"}
)

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestAnswers checks every answer of issue 2 over loopback: the status, the
// headers that go with it, the body, and that a delivery is stored exactly
// when the answer is 2xx.
func TestAnswers(t *testing.T) {
	t.Parallel()
	s := startServer(t, ingressConfig)
	validMultipart := "--xyz\r\nContent-Disposition: form-data; name=\"state\"\r\n\r\non\r\n--xyz--\r\n"
	tests := []struct {
		name   string
		req    request
		status int
		header map[string]string // headers the answer must have
		body   string            // the exact body; "" to skip
		match  string            // a regexp the body must match; "" to skip
	}{
		{
			name:   "an unknown path is 404",
			req:    request{method: "POST", path: "/nope", body: "{}"},
			status: 404,
			body:   `{"error":"no hook at /nope","status":404}` + "\n",
		},
		{
			name:   "a wrong method is 405 with Allow",
			req:    request{method: "GET", path: "/post"},
			status: 405,
			header: map[string]string{"Allow": "POST"},
		},
		{
			name:   "a POST to a GET hook is 405 with Allow listing GET and HEAD",
			req:    request{method: "POST", path: "/hello/world", body: "{}"},
			status: 405,
			header: map[string]string{"Allow": "GET, HEAD"},
		},
		{
			name:   "a missing token is 401 without saying why",
			req:    request{method: "POST", path: "/post", header: jsonType, body: `{"state":"on"}`},
			status: 401,
			body:   `{"error":"authentication failed","status":401}` + "\n",
		},
		{
			name:   "a wrong token is 401 without saying why",
			req:    request{method: "POST", path: "/post", header: with(jsonType, "X-Token", "s3cre"), body: `{"state":"on"}`},
			status: 401,
			body:   `{"error":"authentication failed","status":401}` + "\n",
		},
		{
			name:   "a wrong bearer token is 401",
			req:    request{method: "POST", path: "/post", header: with(jsonType, "Authorization", "Bearer nope"), body: `{"state":"on"}`},
			status: 401,
		},
		{
			name:   "the token in its header is accepted with the configured answer",
			req:    request{method: "POST", path: "/post", header: with(jsonType, "X-Token", "s3cret"), body: `{"state":"on"}`},
			status: 200,
			body:   "SUCCESS",
		},
		{
			name:   "the token as Authorization: Bearer is accepted",
			req:    request{method: "POST", path: "/post", header: with(jsonType, "Authorization", "Bearer s3cret"), body: `{"state":"off"}`},
			status: 200,
			body:   "SUCCESS",
		},
		{
			name:   "missing basic credentials are 401 with a challenge",
			req:    request{method: "POST", path: "/basic", body: "x"},
			status: 401,
			header: map[string]string{"WWW-Authenticate": `Basic realm="postbox", charset="UTF-8"`},
		},
		{
			name:   "a wrong basic password is 401 with a challenge",
			req:    request{method: "POST", path: "/basic", header: with(nil, "Authorization", basicAuth("alice", "open sesam")), body: "x"},
			status: 401,
			header: map[string]string{"WWW-Authenticate": `Basic realm="postbox", charset="UTF-8"`},
			body:   `{"error":"authentication failed","status":401}` + "\n",
		},
		{
			name:   "a wrong basic username is 401",
			req:    request{method: "POST", path: "/basic", header: with(nil, "Authorization", basicAuth("bob", "open sesame")), body: "x"},
			status: 401,
		},
		{
			name:   "the right basic credentials are accepted with the default JSON answer",
			req:    request{method: "POST", path: "/basic", header: with(nil, "Authorization", basicAuth("alice", "open sesame")), body: "x"},
			status: 200,
			header: map[string]string{"Content-Type": "application/json"},
			match:  `^\{"delivery":"[0-9A-Z]{26}","status":"(accepted|done|pending)"\}\n$`,
		},
		{
			name:   "malformed JSON is 400",
			req:    request{method: "POST", path: "/parse", header: jsonType, body: `{"state":`},
			status: 400,
		},
		{
			name:   "JSON followed by more data is 400",
			req:    request{method: "POST", path: "/parse", header: jsonType, body: `{}{}`},
			status: 400,
		},
		{
			name:   "malformed JSON of a +json type is 400",
			req:    request{method: "POST", path: "/parse", header: with(nil, "Content-Type", "application/cloudevents+json"), body: `[1,`},
			status: 400,
		},
		{
			name:   "well-formed JSON is accepted",
			req:    request{method: "POST", path: "/parse", header: jsonType, body: `{"state":"on","n":[1,2]}`},
			status: 200,
		},
		{
			name:   "a malformed form is 400",
			req:    request{method: "POST", path: "/parse", header: formType, body: "a=%zz"},
			status: 400,
		},
		{
			name:   "a well-formed form is accepted",
			req:    request{method: "POST", path: "/parse", header: formType, body: "state=on&x=1&x=2"},
			status: 200,
		},
		{
			name:   "multipart without a boundary is 400",
			req:    request{method: "POST", path: "/parse", header: with(nil, "Content-Type", "multipart/form-data"), body: validMultipart},
			status: 400,
		},
		{
			name:   "a multipart body that is not multipart at all is 400",
			req:    request{method: "POST", path: "/parse", header: multi, body: "this is not multipart"},
			status: 400,
		},
		{
			name:   "a multipart body cut off before its closing boundary is 400",
			req:    request{method: "POST", path: "/parse", header: multi, body: "--xyz\r\nContent-Disposition: form-data; name=\"state\"\r\n\r\non"},
			status: 400,
		},
		{
			name:   "a well-formed multipart body is accepted",
			req:    request{method: "POST", path: "/parse", header: multi, body: validMultipart},
			status: 200,
		},
		{
			name:   "text is accepted and kept raw",
			req:    request{method: "POST", path: "/raw", header: with(nil, "Content-Type", "text/plain"), body: "{not json} a=%zz\x00"},
			status: 200,
			body:   "{not json} a=%zz\x00",
		},
		{
			name:   "a body without a content type is kept raw",
			req:    request{method: "POST", path: "/raw", body: `{"state":`},
			status: 200,
			body:   `{"state":`,
		},
		{
			name:   "a body over max_body with Content-Length is 413",
			req:    request{method: "POST", path: "/parse", body: strings.Repeat("a", 1025)},
			status: 413,
		},
		{
			name:   "a chunked body over max_body is 413",
			req:    request{method: "POST", path: "/parse", body: strings.Repeat("a", 1025), chunked: true},
			status: 413,
		},
		{
			name:   "a body of exactly max_body is accepted",
			req:    request{method: "POST", path: "/parse", body: strings.Repeat("a", 1024)},
			status: 200,
		},
		{
			name:   "a chunked body within max_body is accepted",
			req:    request{method: "POST", path: "/parse", body: strings.Repeat("a", 1000), chunked: true},
			status: 200,
		},
		{
			name:   "a hook's own max_body is enforced",
			req:    request{method: "POST", path: "/small", body: strings.Repeat("a", 17)},
			status: 413,
		},
		{
			name:   "a hook's own max_body is enforced on chunked bodies",
			req:    request{method: "POST", path: "/small", body: strings.Repeat("a", 17), chunked: true},
			status: 413,
		},
		{
			name:   "a compressed body is 415",
			req:    request{method: "POST", path: "/parse", header: with(nil, "Content-Encoding", "gzip"), body: "x"},
			status: 415,
		},
		{
			name:   "an accepted delivery gets the configured status, headers and templated body",
			req:    request{method: "POST", path: "/answer/lamp", header: jsonType, body: `{"state":"on"}`},
			status: 202,
			header: map[string]string{"X-Answer": "42", "Content-Type": "text/x-answer"},
			match:  `^answer got on for lamp as [0-9A-Z]{26}$`,
		},
		{
			name:   "a GET hook answers from a template with the query and the path wildcard",
			req:    request{method: "GET", path: "/hello/world?greeting=hi"},
			status: 200,
			header: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			body:   "hi, world!",
		},
		{
			name:   "a GET hook's template has defaults for a missing query",
			req:    request{method: "GET", path: "/hello/w%C3%B6rld"},
			status: 200,
			body:   "hello, wörld!",
		},
		{
			name:   "a GET hook answers HEAD too, without storing a delivery",
			req:    request{method: "HEAD", path: "/hello/world"},
			status: 200,
		},
		{
			name:   "the health check is 200",
			req:    request{method: "GET", path: "/healthz"},
			status: 200,
			body:   "ok\n",
		},
	}
	accepted := 0 // 2xx answers to hooks, whatever the test wanted
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, tt.req)
			// A HEAD probe is answered but not stored.
			if resp.StatusCode < 300 && tt.req.path != "/healthz" && tt.req.method != "HEAD" {
				accepted++
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, tt.status, body)
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
			if tt.match != "" && !regexp.MustCompile(tt.match).MatchString(body) {
				t.Errorf("body %q does not match %s", body, tt.match)
			}
			id := resp.Header.Get("Postbox-Delivery")
			switch {
			case tt.req.path == "/healthz":
			case tt.req.method == "HEAD":
				if id != "" {
					t.Errorf("a HEAD probe was stored as %s", id)
				}
			case resp.StatusCode < 300 && !regexp.MustCompile(`^[0-9A-Z]{26}$`).MatchString(id):
				t.Errorf("Postbox-Delivery = %q, want a 26-character ULID", id)
			case resp.StatusCode < 300 && tt.match != "" && !strings.Contains(body, id):
				t.Errorf("the body does not name the delivery %s of Postbox-Delivery", id)
			case resp.StatusCode >= 400 && id != "":
				t.Errorf("an error answer has Postbox-Delivery %q", id)
			}
			if resp.StatusCode >= 400 {
				var e struct {
					Error  string `json:"error"`
					Status int    `json:"status"`
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || e.Status != resp.StatusCode {
					t.Errorf("error body %q is not {\"error\": reason, \"status\": %d}", body, resp.StatusCode)
				}
			}
		})
	}
	t.Run("the reason of a 401 goes to the log, not to the client", func(t *testing.T) {
		s.waitLog("a 401 logged with its reason", func(r record) bool {
			reason, _ := r["reason"].(string)
			return r["msg"] == "rejected" && r["status"] == float64(401) && strings.Contains(reason, "does not match")
		})
	})
	// Each 2xx answer above stored one delivery, and no error did.
	if got := len(s.deliveries("--limit", "1000")); got != accepted {
		t.Errorf("%d deliveries stored, want one for each of the %d 2xx answers", got, accepted)
	}
}

func basicAuth(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

// TestDeliveriesWhileServing reads what was stored with the deliveries
// command while the server runs.
func TestDeliveriesWhileServing(t *testing.T) {
	t.Parallel()
	s := startServer(t, ingressConfig)
	body := `{"state":"on","note":"ünïcode \u0000 and \"quotes\""}`
	resp, _ := s.do(t, request{method: "POST", path: "/post?room=kitchen&room=hall",
		header: with(jsonType, "X-Token", "s3cret", "X-Extra", "kept"), body: body})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lampID := resp.Header.Get("Postbox-Delivery")
	resp, _ = s.do(t, request{method: "GET", path: "/hello/you?greeting=hey"})
	helloID := resp.Header.Get("Postbox-Delivery")
	resp, _ = s.do(t, request{method: "POST", path: "/post", header: with(jsonType, "Authorization", "Bearer s3cret"), body: "{}"})
	bearerID := resp.Header.Get("Postbox-Delivery")

	t.Run("list --json has the documented fields, newest first", func(t *testing.T) {
		list := s.deliveries()
		var ids []string
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		if want := []string{bearerID, helloID, lampID}; !slices.Equal(ids, want) {
			t.Fatalf("listed %v, want %v", ids, want)
		}
		d := list[2]
		if d.Hook != "lamp" || d.Method != "POST" || d.Path != "/post" || d.State != "done" {
			t.Errorf("listed %+v, want hook lamp, POST /post, done (no actions)", d)
		}
		received, err := time.Parse(time.RFC3339, d.Received)
		if err != nil {
			t.Errorf("received %q is not RFC 3339: %v", d.Received, err)
		} else if time.Since(received) < 0 || time.Since(received) > time.Hour {
			t.Errorf("received %s is not the time of the request", received)
		}
		if h := list[1]; h.Hook != "hello" || h.Method != "GET" || h.Path != "/hello/you" {
			t.Errorf("listed %+v, want hook hello, GET /hello/you", h)
		}
	})
	t.Run("list filters by hook and limits the count", func(t *testing.T) {
		if got := s.deliveries("--hook", "lamp"); len(got) != 2 || got[0].ID != bearerID || got[1].ID != lampID {
			t.Errorf("--hook lamp listed %+v, want %s and %s", got, bearerID, lampID)
		}
		if got := s.deliveries("--limit", "1"); len(got) != 1 || got[0].ID != bearerID {
			t.Errorf("--limit 1 listed %+v, want only %s", got, bearerID)
		}
		if got := s.deliveries("--hook", "nope"); len(got) != 0 {
			t.Errorf("--hook nope listed %+v, want []", got)
		}
	})
	t.Run("show --json has the request as received", func(t *testing.T) {
		d := s.delivery(lampID)
		if string(d.Body) != body {
			t.Errorf("body %q, want %q byte for byte", d.Body, body)
		}
		if d.HookID != "lamp" || d.Method != "POST" || d.Path != "/post" {
			t.Errorf("delivery %s: hook %q %s %s", d.ID, d.HookID, d.Method, d.Path)
		}
		if got := d.Query["room"]; !slices.Equal(got, []string{"kitchen", "hall"}) {
			t.Errorf("query room = %v, want [kitchen hall]", got)
		}
		if got := d.Header.Get("X-Extra"); got != "kept" {
			t.Errorf("header X-Extra = %q, want kept", got)
		}
		if !strings.HasPrefix(d.RemoteAddr, "127.0.0.1:") {
			t.Errorf("remote address %q, want 127.0.0.1:port", d.RemoteAddr)
		}
		if time.Since(d.Received) > time.Hour {
			t.Errorf("received %s", d.Received)
		}
	})
	t.Run("the secret token is not stored", func(t *testing.T) {
		for _, id := range []string{lampID, bearerID} {
			d := s.delivery(id)
			raw, _ := json.Marshal(d)
			if bytes.Contains(raw, []byte("s3cret")) {
				t.Errorf("delivery %s holds the token: %s", id, raw)
			}
		}
	})
	t.Run("show prints the delivery for a person", func(t *testing.T) {
		res := s.cli("deliveries", "show", "--config", "postbox.yaml", lampID)
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		for _, want := range []string{"Delivery " + lampID, "Hook:     lamp", "Request:  POST /post?room=kitchen&room=hall",
			"X-Extra: kept", "Attempts: none yet", `"state":"on"`} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("show does not print %q:\n%s", want, res.stdout)
			}
		}
	})
	t.Run("show of an unknown id fails and says so", func(t *testing.T) {
		res := s.cli("deliveries", "show", "--config", "postbox.yaml", "01AAAAAAAAAAAAAAAAAAAAAAAA")
		if res.code == 0 || !strings.Contains(res.stderr, "01AAAAAAAAAAAAAAAAAAAAAAAA") {
			t.Errorf("exit %d, stderr %q; want non-zero and the id named", res.code, res.stderr)
		}
	})
	t.Run("the health check still answers", func(t *testing.T) {
		if resp, _ := s.do(t, request{method: "GET", path: "/healthz"}); resp.StatusCode != 200 {
			t.Errorf("healthz %d", resp.StatusCode)
		}
	})
}

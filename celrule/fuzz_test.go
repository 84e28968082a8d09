package celrule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// FuzzCompileEval compiles arbitrary expressions and evaluates those that
// compile over an arbitrary payload. Nothing may panic, every error must
// be an *Error, and evaluation must be deterministic. The seeds are the
// corpus of the package it replaced, rule/, under testdata/fuzz.
func FuzzCompileEval(f *testing.F) {
	f.Add(`payload.action == "opened" && header["X-Github-Event"] == "pull_request"`, []byte(`{"action":"opened"}`))
	f.Fuzz(func(t *testing.T, src string, payload []byte) {
		p, err := Compile(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error %v is %T, not *Error", src, err, err)
			}
			return
		}
		if p.String() != src {
			t.Fatalf("String() = %q, want %q", p.String(), src)
		}
		env := fuzzEnv(payload)
		v1, err1 := p.Eval(env)
		v2, err2 := p.Eval(env)
		// %#v rather than reflect.DeepEqual, for which NaN != NaN.
		if errors.Is(err1, ErrLimit) || errors.Is(err2, ErrLimit) {
			return // a time limit need not be deterministic
		}
		if errString(err1) != errString(err2) || fmt.Sprintf("%#v", v1) != fmt.Sprintf("%#v", v2) {
			t.Fatalf("Eval(%q) is not deterministic: %#v, %v then %#v, %v", src, v1, err1, v2, err2)
		}
		if err1 != nil {
			var e *Error
			if !errors.As(err1, &e) {
				t.Fatalf("Eval(%q) error %v is %T, not *Error", src, err1, err1)
			}
		}
		if _, err := CompileBool(src); err == nil {
			_, err := p.EvalBool(env)
			if err1 == nil && err == nil {
				if _, ok := v1.(bool); !ok {
					t.Fatalf("EvalBool(%q) accepted %#v", src, v1)
				}
			}
		}
	})
}

// fuzzEnv builds variables from fuzzed bytes: the payload as JSON when it
// parses, else as text.
func fuzzEnv(payload []byte) map[string]any {
	var v any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		v = string(payload)
	}
	return map[string]any{
		"payload": v,
		"header":  http.Header{"X-Github-Event": {"push"}, "X-Multi": {"a", "b"}},
		"query":   url.Values{"ref": {"main"}},
		"path":    map[string]string{"repo": "lamp"},
		"method":  "POST",
		"body":    string(payload),
		"remote":  "203.0.113.7",
		"vars":    map[string]any{"n": int64(1), "l": []any{"a", json.Number("2")}},
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package payload_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
)

func TestParsePayload(t *testing.T) {
	mp := "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n" +
		"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
	tests := []struct {
		name, ct, body string
		want           string // JSON of the payload, or "error"
	}{
		{"JSON keeps the digits of big numbers", "application/json", `{"n":100000000000000000001}`, `{"n":100000000000000000001}`},
		{"a +json type is JSON", "application/vnd.github+json; charset=utf-8", `[1]`, `[1]`},
		{"data after the JSON value is malformed", "application/json", `{} {}`, "error"},
		{"JSON nested deeper than the limit is refused", "application/json", strings.Repeat("[", 100000), "error"},
		{"brackets inside strings do not count as nesting", "application/json", `"` + strings.Repeat("[", 1000) + `"`, `"` + strings.Repeat("[", 1000) + `"`},
		{"a form's repeated field is a list", "application/x-www-form-urlencoded", "a=1&b=2&b=3", `{"a":"1","b":["2","3"]}`},
		{"a malformed form is refused", "application/x-www-form-urlencoded", "a=%zz", "error"},
		{"multipart fields and files", "multipart/form-data; boundary=b", mp, `{"a":"1","f":{"content_type":"text/plain","filename":"x.txt","size":5}}`},
		{"a multipart body without a boundary is malformed", "multipart/form-data; boundary=xyz", "this is not multipart", "error"},
		{"multipart without a boundary parameter is malformed", "multipart/form-data", mp, "error"},
		{"anything else is the text", "text/plain", "on", `"on"`},
		{"no content type is the text", "", "\x00\xff", `"\u0000\ufffd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := payload.Parse(tt.ct, []byte(tt.body))
			if cerr := payload.Check(tt.ct, []byte(tt.body)); (cerr == nil) != (err == nil) {
				t.Errorf("CheckPayload = %v but ParsePayload = %v: they must agree", cerr, err)
			}
			if tt.want == "error" {
				if postbox.ErrorCode(err) != postbox.EINVALID {
					t.Fatalf("ParsePayload = %v, %v; want an EINVALID error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.want {
				t.Errorf("payload %s, want %s", b, tt.want)
			}
		})
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add("application/json", []byte(`{"a":[1,{"b":null}]}`))
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2"))
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		// Any input gives a payload or an EINVALID error, never a panic.
		_, err := payload.Parse(ct, body)
		if err != nil && postbox.ErrorCode(err) != postbox.EINVALID {
			t.Fatalf("error %v has code %s", err, postbox.ErrorCode(err))
		}
		if cerr := payload.Check(ct, body); (cerr == nil) != (err == nil) {
			t.Fatalf("CheckPayload = %v but ParsePayload = %v", cerr, err)
		}
	})
}

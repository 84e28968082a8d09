package payload

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/postbox/postbox"
)

func TestParseXML(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"attributes, repeated children and text as webhook (mxj) gives them", "application/xml",
			`<?xml version="1.0"?><app><users><user id="1" name="Ann"/><user id="2" name="Bo"/></users><messages><message from="1">Hi there</message></messages></app>`,
			`{"app":{"messages":{"message":{"#text":"Hi there","-from":"1"}},"users":{"user":[{"-id":"1","-name":"Ann"},{"-id":"2","-name":"Bo"}]}}}`},
		{"an element of text alone is its text", "text/xml; charset=utf-8", `<a><b> x </b><c/></a>`, `{"a":{"b":"x","c":""}}`},
		{"a +xml type is XML", "application/atom+xml", `<feed><title>t</title></feed>`, `{"feed":{"title":"t"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse(tt.contentType, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(v)
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	for _, tc := range []struct{ name, body, want string }{
		{"unclosed", `<a><b></a>`, "malformed XML body"},
		{"two roots", `<a/><b/>`, "more than one root element"},
		{"empty", ``, "no root element"},
		{"too deep", strings.Repeat("<a>", 600) + strings.Repeat("</a>", 600), "nested deeper than 512"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, err := Parse("application/xml", []byte(tc.body))
			if err == nil || postbox.ErrorCode(err) != postbox.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want postbox.EINVALID with %q", err, tc.want)
			}
		})
	}
}

func FuzzParseXML(f *testing.F) {
	f.Add([]byte(`<a x="1"><b>t</b><b/></a>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		Parse("application/xml", body)
	})
}

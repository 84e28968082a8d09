package headerjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// roundTrip checks that Append(m) decodes to what encoding/json's own
// encoding of m decodes to.
func roundTrip(t *testing.T, m map[string][]string) {
	t.Helper()
	got := Append(nil, m)
	var fromOurs, fromStd map[string][]string
	if err := json.Unmarshal(got, &fromOurs); err != nil {
		t.Fatalf("Append(%q) = %s: not JSON: %v", m, got, err)
	}
	std, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(std, &fromStd); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromOurs, fromStd) {
		t.Fatalf("Append(%q) decodes to %q, encoding/json's to %q", m, fromOurs, fromStd)
	}
}

func TestAppend(t *testing.T) {
	for _, m := range []map[string][]string{
		nil,
		{},
		{"Content-Type": {"application/json"}},
		{"B": {"2", "3"}, "A": {"1"}, "C": {}, "D": nil},
		{"X": {"quote \" backslash \\ tab \t nl \n cr \r nul \x00 del \x7f bell \x07"}},
		{"X": {"<html> & 'single'"}},
		{"X": {"héllo wörld ✓ 😀", "\u2028\u2029"}},
		{"X": {"bad \xff utf8 \xc3", "\xe2\x82"}},
		{"\xff key": {"v"}},
	} {
		roundTrip(t, m)
	}
	if got := string(Append(nil, map[string][]string{"B": {"x"}, "A": {"y", "z"}})); got != `{"A":["y","z"],"B":["x"]}` {
		t.Errorf("Append = %s", got)
	}
	if got := string(Append([]byte("pre:"), nil)); got != "pre:null" {
		t.Errorf("Append(nil) = %s", got)
	}
	// Many keys: beyond the sorting buffer on the stack.
	big := map[string][]string{}
	for i := range 100 {
		big[strings.Repeat("k", i+1)] = []string{strings.Repeat("v", i)}
	}
	roundTrip(t, big)
}

func FuzzAppend(f *testing.F) {
	f.Add("Content-Type", "application/json", "X-Other", "a\x00b")
	f.Add("\xff", "\u2028", "", "\"\\")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		roundTrip(t, map[string][]string{k1: {v1, v2}, k2: {v2}})
	})
}

func BenchmarkAppend(b *testing.B) {
	h := map[string][]string{
		"Accept": {"*/*"}, "Content-Type": {"application/json"}, "User-Agent": {"GitHub-Hookshot/abc123"},
		"X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"}, "X-Github-Event": {"push"},
		"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
		"Content-Length":      {"2156"}, "X-Token": {"[redacted]"},
	}
	b.Run("headerjson", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = Append(buf[:0], h)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

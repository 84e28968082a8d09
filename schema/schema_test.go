package schema_test

import (
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/schema"
)

func TestValidate(t *testing.T) {
	s, err := schema.Load("testdata/lamp.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		body     string
		problems []string // "path: message contains"
	}{
		{"a valid payload passes", `{"state":"on","brightness":40}`, nil},
		{"a missing required field is named", `{"brightness":40}`, []string{"/: missing property 'state'"}},
		{"a value outside the enum is located", `{"state":"dim"}`, []string{"/state: value must be one of"}},
		{"big integers are compared exactly", `{"state":"on","brightness":100000000000000000001}`, []string{"/brightness: maximum: got 1×10²⁰"}},
		{"several problems are listed", `{"state":1,"brightness":-1,"x":true}`, []string{"/state", "/brightness", "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := payload.Parse("application/json", []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(payload)
			if tt.problems == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			pe, ok := err.(*postbox.Error)
			if !ok || pe.Code != postbox.EUNPROCESSABLE {
				t.Fatalf("Validate = %#v, want an EUNPROCESSABLE *postbox.Error", err)
			}
			var got []string
			for _, p := range pe.Problems {
				got = append(got, p.Path+": "+p.Message)
			}
			for _, want := range tt.problems {
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, want) || strings.Contains(g, want) {
						found = true
					}
				}
				if !found {
					t.Errorf("problems %q lack %q", got, want)
				}
			}
		})
	}
}

func TestLoadNamesABrokenSchema(t *testing.T) {
	if _, err := schema.Load("testdata/missing.json"); err == nil {
		t.Error("a missing schema file loaded")
	}
}

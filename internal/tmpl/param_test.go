package tmpl

import (
	"encoding/json"
	"testing"

	"github.com/postbox/postbox"
)

func TestParam(t *testing.T) {
	payload := map[string]any{
		"head_commit": nil,
		"pusher":      map[string]any{"name": "ann"},
		"a.b":         "dotted key",
		"commits":     []any{map[string]any{"id": "c1"}},
		"n":           json.Number("42"),
		"obj":         map[string]any{"k": []any{"v"}},
	}
	for _, tc := range []struct{ path, want string }{
		{"pusher.name", "ann"},
		{"head_commit.id", ""},
		{"missing.deeper.still", ""},
		{"a.b", "dotted key"},
		{"commits.0.id", "c1"},
		{"commits.1.id", ""},
		{"commits.x", ""},
		{"n", "42"},
		{"obj", `{"k":["v"]}`},
		{"head_commit", "<nil>"},
	} {
		tp, err := Parse("t", `{{ param .Payload "`+tc.path+`" }}`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tp.Execute(&postbox.TemplateData{Payload: payload})
		if err != nil || got != tc.want {
			t.Errorf("param %s = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestParamArrayRoot(t *testing.T) {
	tp, _ := Parse("t", `{{ param .Payload "root.1.id" }}|{{ param .Payload "root" }}`)
	got, err := tp.Execute(&postbox.TemplateData{Payload: []any{map[string]any{"id": "a"}, map[string]any{"id": "b"}}})
	if err != nil || got != `b|[{"id":"a"},{"id":"b"}]` {
		t.Errorf("= %q, %v", got, err)
	}
}

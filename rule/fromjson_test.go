package rule

import (
	"strings"
	"testing"
)

func TestFromJSON(t *testing.T) {
	env := map[string]any{"payload": map[string]any{
		"payload": `{"user": {"name": "ann"}, "n": 42, "items": [1, 2]}`,
		"bad":     `{"user":`,
		"two":     `{} {}`,
	}}
	for _, tc := range []struct{ expr, want string }{
		{`fromJSON(payload.payload).user.name == "ann"`, "true"},
		{`string(fromJSON(payload.payload).n) == "42"`, "true"},
		{`size(fromJSON(payload.payload).items) == 2`, "true"},
		{`has(fromJSON(payload.payload).user.name)`, "true"},
		{`has(fromJSON(payload.payload).other)`, "false"},
		{`fromJSON(payload.bad).user == "x"`, "fromJSON: the string is not JSON"},
		{`fromJSON(payload.two) == "x"`, "more than one JSON value"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			p, err := CompileBool(tc.expr, []string{"payload"})
			if err != nil {
				t.Fatal(err)
			}
			ok, err := p.EvalBool(env)
			got := "false"
			if ok {
				got = "true"
			}
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("= %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := CompileBool(`fromJSON(1) == 1`, nil); err == nil {
		t.Error("fromJSON of a number compiles")
	}
}

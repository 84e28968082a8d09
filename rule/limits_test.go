package rule

import (
	"errors"
	"strings"
	"testing"
)

func TestSourceLimits(t *testing.T) {
	long := "1" + strings.Repeat(" + 1", (MaxSourceLen-1)/4)
	tests := []struct {
		name string
		src  string
		want string // "" when accepted
	}{
		{"an expression of the longest length is accepted", long + strings.Repeat(" ", MaxSourceLen-len(long)), ""},
		{"a longer expression is refused", long + strings.Repeat(" ", MaxSourceLen-len(long)+1), "expression is 4097 bytes long; the limit is 4096"},
		{"invalid UTF-8 is refused", "\"\xff\"", "expression is not valid UTF-8"},
		{"parentheses may nest 63 deep", strings.Repeat("(", MaxDepth-1) + "1" + strings.Repeat(")", MaxDepth-1), ""},
		{"parentheses may not nest 64 deep", strings.Repeat("(", MaxDepth) + "1" + strings.Repeat(")", MaxDepth), "column 65: expression is nested more than 64 levels deep"},
		{"lists may not nest deeply", strings.Repeat("[", 100) + strings.Repeat("]", 100), "column 65: expression is nested more than 64 levels deep"},
		{"indexes may not nest deeply", strings.Repeat("payload[", 100) + "0" + strings.Repeat("]", 100), "column 513: expression is nested more than 64 levels deep"},
		{"calls may not nest deeply", strings.Repeat("size(", 100) + "1" + strings.Repeat(")", 100), "column 321: expression is nested more than 64 levels deep"},
		{"negations may not nest deeply", strings.Repeat("!", 100) + "true", "column 64: expression is nested more than 64 levels deep"},
		{"conditionals may not nest deeply", strings.Repeat("true ? 1 : ", 100) + "2", "column 705: expression is nested more than 64 levels deep"},
		{"a long chain of || stays shallow", "false" + strings.Repeat(" || false", 400), ""},
		{"a long chain of + is accepted", "1" + strings.Repeat(" + 1", 1000), ""},
		{"a long chain of fields is accepted", "payload" + strings.Repeat(".a", 1000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, postboxVars)
			if got := errString(err); got != tt.want {
				t.Errorf("Compile: got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLongChainsEvaluate(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"a chain of 1000 additions", "0" + strings.Repeat(" + 1", 1000), int64(1000)},
		{"a chain of 400 alternatives", "false" + strings.Repeat(" || false", 399) + " || true", true},
		{"a chain of 1000 fields", "payload" + strings.Repeat(".a", 1000) + " == 1", true},
	}
	nested := any(int64(1))
	for range 1000 {
		nested = map[string]any{"a": nested}
	}
	env := map[string]any{"payload": nested}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src, postboxVars)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Eval(env)
			if err != nil || got != tt.want {
				t.Errorf("Eval = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestEvalLimits(t *testing.T) {
	list := func(n int) []any {
		l := make([]any, n)
		for i := range l {
			l[i] = int64(i)
		}
		return l
	}
	deep := any("x")
	for range maxEqualDepth + 10 {
		deep = []any{deep}
	}
	env := map[string]any{
		"body": strings.Repeat("a", 600<<10),
		"payload": map[string]any{
			"l1k":   list(1000),
			"l100k": list(MaxIterations),
			"big":   list(600_000),
			"small": list(200),
			"deep":  deep,
			"pat":   strings.Repeat("a", 2000),
		},
	}
	tests := []struct {
		name string
		src  string
		want string // "" when within the limits
	}{
		{"a string within the limit", `size(body + "b") > 0`, ""},
		{"a string beyond the limit", `body + body`, "column 6: + would make a string of 1228800 bytes; the limit is 1048576"},
		{"a list beyond the limit", `payload.big + payload.big`, "column 13: + would make a list of 1200000 elements; the limit is 1048576"},
		{"a loop may visit the limit of elements", `payload.l100k.exists(x, false)`, ""},
		{"a loop may not visit more", `payload.l100k.exists(x, false) || [1].exists(x, false)`, "column 39: exists: loops visit more than 100000 elements"},
		{"nested loops count every step", `payload.l1k.exists(x, payload.l1k.exists(y, false))`, "column 35: exists: loops visit more than 100000 elements"},
		{"loops cost the size of their condition", `payload.l100k.all(x, x >= 0 && x >= 0 && x >= 0 && x >= 0 && x >= 0 && x >= 0 && x >= 0)`, "column 15: the evaluation costs more than the limit of 1000000"},
		{"scanning long strings costs", `payload.small.exists(x, body.contains("b"))`, "column 30: the evaluation costs more than the limit of 1000000"},
		{"changing the case of long strings costs", `payload.small.exists(x, body.upperAscii() == "")`, "column 43: the evaluation costs more than the limit of 1000000"},
		{"comparing long strings costs", `payload.small.all(x, body == body)`, "column 27: the evaluation costs more than the limit of 1000000"},
		{"|| does not absorb a limit", `payload.small.exists(x, body.contains("b")) || true`, "column 30: the evaluation costs more than the limit of 1000000"},
		{"&& does not absorb a limit", `body + body == "" && false`, "column 6: + would make a string of 1228800 bytes; the limit is 1048576"},
		{"exists does not absorb a limit", `[1, 2].exists(x, x == 2 || payload.l100k.exists(y, false))`, "column 42: exists: loops visit more than 100000 elements"},
		{"matching a long string costs its length times the pattern", `body.matches("(a?){30}a{30}x")`, "column 6: the evaluation costs more than the limit of 1000000"},
		{"a simple pattern may match a long string", `body.matches("^a+$")`, ""},
		{"errors absorbed in a loop cost", `payload.l100k.exists(x, x.nope)`, "column 15: the evaluation costs more than the limit of 1000000"},
		{"errors absorbed by || cost", `payload.l100k.exists(x, x.nope || x.nope || false)`, "column 15: the evaluation costs more than the limit of 1000000"},
		{"a long pattern from data is refused", `"a".matches(payload.pat)`, "column 5: the regular expression is 2000 bytes long; the limit is 1024"},
		{"deeply nested values do not compare", `payload.deep == payload.deep`, "column 14: values are nested more than 1000 levels deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src, postboxVars)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Eval(env)
			if got := errString(err); got != tt.want {
				t.Fatalf("Eval: got %q, want %q", got, tt.want)
			}
			if tt.want != "" && !errors.Is(err, ErrLimit) {
				t.Errorf("errors.Is(%v, ErrLimit) = false", err)
			}
		})
	}
}

func TestLongValuesAreShortenedInMessages(t *testing.T) {
	p, err := Compile(`body < 1`, postboxVars)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(map[string]any{"body": strings.Repeat("é", 1<<20)})
	want := `column 6: cannot compare string "` + strings.Repeat("é", 20) + `…" with int 1`
	if got := errString(err); got != want {
		t.Errorf("Eval = %q, want %q", got, want)
	}
}

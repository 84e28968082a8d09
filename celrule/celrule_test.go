package celrule

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCompileErrorsNameTheirPlace(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"an unknown variable is named with a suggestion", `payload.action == "x" || paylod.x`,
			`column 26: undeclared reference to 'paylod' (did you mean "payload"?)`},
		{"an unknown variable far from any name has no suggestion", `request.body`, `column 1: undeclared reference to 'request'`},
		{"a misspelt method is suggested", `payload.a.startswith("x")`,
			`column 21: undeclared reference to 'startswith' (did you mean "startsWith"?)`},
		{"a multi-line expression names the line", "payload.a == 1 &&\n  paylod.b == 2",
			`line 2, column 3: undeclared reference to 'paylod' (did you mean "payload"?)`},
		{"a column counts characters, not bytes", `"ünïcödé" + 1`,
			`column 11: found no matching overload for '_+_' applied to '(string, int)'`},
		{"the method is a string", `method + 1`, `column 8: found no matching overload for '_+_' applied to '(string, int)'`},
		{"a header is a string", `header["X-Count"] > 1`, `column 19: found no matching overload for '_>_' applied to '(string, int)'`},
		{"a query parameter is a string", `query.page * 2`, `column 12: found no matching overload for '_*_' applied to '(string, int)'`},
		{"the body is a string", `body.exists(c, true)`, `column 1: expression of type 'string' cannot be range of a comprehension`},
		{"a syntax error", `payload.action = "x"`, `column 16: token recognition error at: '= '`},
		{"an empty expression", ` `, `the expression is empty`},
		{"an invalid literal regular expression", `payload.a.matches("(")`, "column 1: error parsing regexp: missing closing ): `(`"},
		{"a regular expression with a repeat too large", `payload.a.matches("a{1001}")`, "column 1: error parsing regexp: invalid repeat count: `{1001}`"},
		{"an expression too long", "payload.a == \"" + strings.Repeat("x", MaxSourceLen) + "\"", "expression code point size exceeds limit: size: 4111, limit 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) = %v, want an *Error", tt.src, err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile(%q):\n got %s\nwant %s", tt.src, err, tt.want)
			}
		})
	}
}

func TestCompileBool(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // "" when accepted
	}{
		{"a string literal is refused", `"opened"`, `column 1: a condition must be true or false, but this expression is of type string`},
		{"int arithmetic is refused", `1 + 2`, `column 1: a condition must be true or false, but this expression is of type int`},
		{"a list is refused", `[true]`, `column 1: a condition must be true or false, but this expression is of type list(bool)`},
		{"size() is refused", `size(payload)`, `column 1: a condition must be true or false, but this expression is of type int`},
		{"a header is refused", `header["X-Flag"]`, `column 1: a condition must be true or false, but this expression is of type string`},
		{"a field of the payload is accepted", `payload.merged`, ``},
		{"arithmetic on the payload is refused", `payload.n + 1`, `column 1: a condition must be true or false, but this expression is of type int`},
		{"a comparison is accepted", `payload.n > 1`, ``},
		{"a var is accepted", `vars.ok`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileBool(tt.src)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CompileBool(%q):\n got %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestEvalBoolRefusesOtherValues(t *testing.T) {
	p, err := CompileBool(`payload.action`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.EvalBool(testEnv(t))
	if err == nil || err.Error() != `the condition is string opened, not true or false` {
		t.Errorf("EvalBool = %v", err)
	}
	ok, err := mustCompileBool(t, `payload.merged == false`).EvalBool(testEnv(t))
	if !ok || err != nil {
		t.Errorf("EvalBool = %v, %v", ok, err)
	}
}

func TestEvalErrorsNameTheirPlace(t *testing.T) {
	tests := []struct{ src, want string }{
		{`payload.repository.name == "lamp"`, `column 19: no such key: name`},
		{`header["X-Nope"] == "1"`, `column 7: no such key: X-Nope`},
		{"payload.action == \"opened\" &&\n  payload.nope", `line 2, column 10: no such key: nope`},
		{`payload.commits[2]`, `column 16: index out of bounds: 2`},
		{`payload.number / 0`, `column 16: division by zero`},
		{`payload.number + payload.ratio`, `column 16: no such overload`},
		{`fromJSON(body + "x")`, `column 9: fromJSON: the string holds more than one JSON value`},
		{`fromJSON("{")`, `column 9: fromJSON: the string is not JSON: unexpected EOF`},
	}
	env := testEnv(t)
	for _, tt := range tests {
		p, err := Compile(tt.src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.src, err)
		}
		_, err = p.Eval(env)
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Eval(%q) = %v, want %s", tt.src, err, tt.want)
		}
		if errors.Is(err, ErrLimit) {
			t.Errorf("Eval(%q) = %v is not a limit", tt.src, err)
		}
	}
}

// TestWhatPostboxAdds covers what this package gives CEL beyond cel-go's
// defaults: the request's values as CEL sees them, fromJSON and the
// extensions.
func TestWhatPostboxAdds(t *testing.T) {
	env := testEnv(t)
	env["payload"].(map[string]any)["form"] = `{"user": {"id": "U1", "n": 7}}`
	tests := []struct {
		name string
		src  string
		want any
	}{
		// Headers and query parameters: the first value.
		{"a header in any case", `header["x-github-EVENT"]`, "pull_request"},
		{"a header is present in any case", `"CONTENT-TYPE" in header`, true},
		{"has() on a header", `has(header.Accept)`, false},
		{"a repeated header gives its first value", `header["X-Multi"]`, "one"},
		{"a header without values is empty", `header["X-Empty"]`, ""},
		{"the headers' names", `header.all(h, h.startsWith("X-") || h == "Content-Type")`, true},
		{"the number of headers", `size(header)`, int64(4)},
		{"the headers as a value are their first values", `header`, map[string]string{"X-Github-Event": "pull_request", "Content-Type": "application/json", "X-Multi": "one", "X-Empty": ""}},
		{"a repeated query parameter gives its first value", `query.tag`, "v1"},
		{"query names are case-sensitive", `"case" in query || has(query.case)`, false},
		{"a path wildcard", `path.repo`, "lamp"},
		{"the remote address", `remote + " " + remote_addr`, "203.0.113.7 203.0.113.7:52814"},
		// Numbers from JSON.
		{"a JSON integer is an int", `type(payload.number) == int`, true},
		{"a JSON fraction is a double", `type(payload.ratio) == double`, true},
		{"a JSON integer beyond int64 is a double", `type(payload.huge) == double`, true},
		{"JSON integers add as ints", `payload.number + 1`, int64(43)},
		{"JSON integers divide as ints", `payload.number / 5`, int64(8)},
		{"large JSON integers are exact", `payload.big == 10000000000000001 && string(payload.big) == "10000000000000001"`, true},
		{"ints and doubles compare by value", `payload.number == 42.0 && payload.ratio < 1 && payload.number > 41.5`, true},
		{"a double() makes arithmetic mix", `double(payload.number) + payload.ratio`, 42.25},
		// fromJSON.
		{"fromJSON reads a JSON field", `fromJSON(payload.form).user.id`, "U1"},
		{"fromJSON reads numbers as the body's", `fromJSON(payload.form).user.n + 1`, int64(8)},
		// Macros and extensions.
		{"map", `payload.commits.map(c, c.id)`, []any{"a1", "b2"}},
		{"filter", `payload.pull_request.labels.filter(l, l.name != "bug").map(l, l.name)`, []any{"ui"}},
		{"exists_one", `payload.commits.exists_one(c, c.message.startsWith("WIP"))`, true},
		{"strings: split and join", `payload.repository.full_name.split("/").join("-")`, "octo-lamp"},
		{"strings: format", `"%s#%d".format([vars.repo, vars.n])`, "octo/lamp#3"},
		{"strings: trim and replace", `"  a-b ".trim().replace("-", "+")`, "a+b"},
		{"encoders: base64", `base64.encode(b"lamp")`, "bGFtcA=="},
		{"matches", `payload.repository.full_name.matches("^[a-z]+/[a-z]{2,4}$")`, true},
		{"matches with a pattern from the data", `"aa".matches(payload.repository.topics[0].size() == 3 ? "^a{2}$" : "b")`, true},
		{"timestamps and durations", `timestamp("2024-01-01T00:00:00Z") + duration("90m") > timestamp("2024-01-01T01:00:00Z")`, true},
		{"a timestamp is a time.Time", `timestamp("2024-01-01T00:00:00Z")`, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"optional fields", `payload.?missing.orValue("none") + payload.?action.orValue("none")`, "noneopened"},
		{"an absent optional is null", `payload.?missing`, nil},
		{"math", `math.greatest([1, 5, 3]) + math.abs(-2)`, int64(7)},
		{"an optional header", `header[?"X-Flag"].hasValue() || header[?"x-multi"].orValue("") == "one"`, true},
		{"optional fields in a chain", `payload.?pull_request.?merged.orValue(false)`, false},
		{"more of strings", `"lamp".substring(1, 3) + string("lamp".indexOf("m")) + string(bool("true"))`, "am2true"},
		{"base64.decode", `base64.decode("bGFtcA==") == b"lamp"`, true},
		{"a map literal", `{"repo": payload.repository.full_name, "n": payload.number}`, map[string]any{"repo": "octo/lamp", "n": int64(42)}},
		{"a list of payload values is the payload's", `payload.repository.topics`, []any{"iot", "home"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env["remote_addr"] = "203.0.113.7:52814"
			check(t, tt.src, env, outcome{want: tt.want})
		})
	}
}

func TestCostLimit(t *testing.T) {
	l100k := make([]any, 100_000)
	for i := range l100k {
		l100k[i] = int64(i)
	}
	env := map[string]any{
		"body":    strings.Repeat("ab", 1<<19),
		"payload": map[string]any{"l100k": l100k, "l1k": l100k[:1000], "small": l100k[:100]},
	}
	tests := []struct {
		name string
		src  string
		over bool
	}{
		{"a loop over 100,000 elements is within the limit", `payload.l100k.exists(x, x < 0)`, false},
		{"two loops over 100,000 elements are within the limit", `payload.l100k.exists(x, x < 0) || payload.l100k.all(x, x >= 0)`, false},
		{"a loop reading a 1 MiB body 100 times is not", `payload.small.exists(x, body.contains("z"))`, true},
		{"nested loops over 100 elements each are within the limit", `payload.small.exists(x, payload.small.exists(y, x == y + 1000000))`, false},
		{"nested loops over 1,000 elements each are not", `payload.l1k.exists(x, payload.l1k.exists(y, x == y + 1000000))`, true},
		{"a loop reading a 1 MiB body a dozen times is within the limit", `payload.small.filter(x, x < 12).all(x, size(body) > 0 && body.startsWith("ab"))`, false},
		{"nested loops over 100,000 elements each are not", `payload.l100k.exists(x, payload.l100k.exists(y, x == y + 1000000))`, true},
		{"reading a long string in a long loop is not", `payload.l100k.exists(x, body.contains("z"))`, true},
		{"building long strings in a loop is not", `payload.l100k.exists(x, size(body + body) == 0)`, true},
		{"map in a loop is not", `payload.l100k.map(x, payload.l100k.filter(y, y == x)).size() == 0`, true},
		{"|| does not absorb the limit", `payload.l100k.exists(x, body.contains("z")) || true`, true},
		{"&& does not absorb the limit", `payload.l100k.exists(x, body.contains("z")) && false`, true},
		{"a loop does not absorb the limit", `[1, 2].exists(x, x == 3 || payload.l100k.exists(y, body.contains("z")))`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Eval(env)
			if got := errors.Is(err, ErrLimit); got != tt.over {
				t.Errorf("Eval(%q) = %v; over the limit: %v, want %v", tt.src, err, got, tt.over)
			}
			if tt.over && err != nil && err.Error() != "the evaluation costs more than the limit of 1000000" {
				t.Errorf("Eval(%q) = %v", tt.src, err)
			}
		})
	}
}

func TestConcurrentEval(t *testing.T) {
	// A Program is shared by every request of a hook; run with -race.
	p := mustCompileBool(t, `payload.commits.exists(c, c.message.matches("^WIP") || c.id.matches(vars.repo)) && header["x-multi"] == "one"`)
	env := testEnv(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, err := p.EvalBool(env); err != nil || !ok {
					t.Errorf("EvalBool = %v, %v", ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestVariablesWithoutValues(t *testing.T) {
	// A request without a parsed payload, headers or vars.
	env := map[string]any{"payload": nil, "header": http.Header(nil), "query": url.Values(nil), "vars": map[string]any(nil)}
	check(t, `payload == null && size(header) == 0 && !("a" in query) && size(vars) == 0`, env, outcome{want: true})
	check(t, `vars.repo`, env, outcome{eval: "no such key: repo"})
}

func mustCompileBool(t *testing.T, src string) *Program {
	t.Helper()
	p, err := CompileBool(src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

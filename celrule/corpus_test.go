package celrule

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const githubPayload = `{
  "action": "opened",
  "number": 42,
  "big": 10000000000000001,
  "huge": 123456789012345678901234567890,
  "ratio": 0.25,
  "merged": false,
  "draft": null,
  "pull_request": {"title": "Fix the lamp", "labels": [{"name": "bug"}, {"name": "ui"}], "additions": 7},
  "repository": {"full_name": "octo/lamp", "private": false, "topics": ["iot", "home"]},
  "commits": [
    {"id": "a1", "message": "WIP: start", "added": ["a.go"]},
    {"id": "b2", "message": "Finish", "added": []}
  ],
  "sender": {"login": "octocat"},
  "unicode": "héllo wörld",
  "empty": {},
  "list": [1, 2.5, "3", true, null, [1], {"a": 1}]
}`

// decode parses JSON as postbox does, with UseNumber.
func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func testEnv(t testing.TB) map[string]any {
	return map[string]any{
		"payload": decode(t, githubPayload),
		"header": http.Header{
			"X-Github-Event": {"pull_request"},
			"Content-Type":   {"application/json"},
			"X-Multi":        {"one", "two"},
			"X-Empty":        {},
		},
		"query":  url.Values{"ref": {"main"}, "tag": {"v1", "v2"}, "Case": {"upper"}},
		"path":   map[string]string{"repo": "lamp"},
		"method": "POST",
		"body":   `{"action":"opened"}`,
		"remote": "203.0.113.7",
		"vars":   map[string]any{"repo": "octo/lamp", "n": int64(3)},
	}
}

// oldEval is the table of rule/eval_test.go, the implementation of
// postbox's CEL subset that this package replaced: each expression with
// the answer rule/ gave. TestOldCorpus runs it here: the answers must be
// the same, unless changedEval lists the expression.
var oldEval = []struct {
	name, src string
	want      any
}{
	// Literals.
	{"an int literal is an int64", `42`, int64(42)},
	{"a hex literal is an int64", `0x1F`, int64(31)},
	{"the smallest int literal is in range", `-9223372036854775808`, int64(math.MinInt64)},
	{"a float literal is a float64", `1.5e3`, 1500.0},
	{"a float literal may start with a dot", `.5`, 0.5},
	{"a double-quoted string", `"lamp"`, "lamp"},
	{"a single-quoted string", `'it"s'`, `it"s`},
	{"escapes follow CEL", `"\a\b\f\n\r\t\v\\\?\"\'\x41\u00e9\U0001F600\101"`, "\a\b\f\n\r\t\v\\?\"'Aé😀A"},
	{"a raw string keeps backslashes", `r"^\d+\.\w$"`, `^\d+\.\w$`},
	{"a raw single-quoted string", `R'a\n'`, `a\n`},
	{"true", `true`, true},
	{"false", `false`, false},
	{"null", `null`, nil},
	{"a list literal", `[1, "a", true, null]`, []any{int64(1), "a", true, nil}},
	{"a list literal may end with a comma", `[1, 2,]`, []any{int64(1), int64(2)}},
	{"an empty list", `[]`, []any{}},
	{"a comment runs to the end of the line", "1 + // one more\n 2", int64(3)},

	// Variables, fields and indexes.
	{"a field of the payload", `payload.action`, "opened"},
	{"a nested field", `payload.repository.full_name`, "octo/lamp"},
	{"a JSON number stays a json.Number", `payload.number`, json.Number("42")},
	{"an index by string", `payload["action"]`, "opened"},
	{"a list index", `payload.commits[1].id`, "b2"},
	{"a list index may be a JSON number", `payload.repository.topics[payload.list[0]]`, "home"},
	{"a list index may be an integral double", `payload.repository.topics[1.0]`, "home"},
	{"a header by its canonical name", `header["X-Github-Event"]`, "pull_request"},
	{"a header in any case", `header["x-github-EVENT"]`, "pull_request"},
	{"a header as a field", `header.X_Missing == "" || header["Content-Type"] == "application/json"`, true},
	{"a repeated header gives its first value", `header["X-Multi"]`, "one"},
	{"a header without values is empty", `header["X-Empty"]`, ""},
	{"a query parameter", `query.ref`, "main"},
	{"a repeated query parameter gives its first value", `query["tag"]`, "v1"},
	{"query names are case-sensitive", `"case" in query`, false},
	{"a path wildcard", `path.repo`, "lamp"},
	{"the method", `method`, "POST"},
	{"the body", `body.contains("opened")`, true},
	{"vars", `vars.repo + "#" + string(vars.n)`, "octo/lamp#3"},
	{"a null field", `payload.draft == null`, true},
	{"a reserved word may be a field name", `has(payload.package) || has(payload.if)`, false},
	{"a whole list", `payload.repository.topics`, []any{"iot", "home"}},

	// Arithmetic and precedence.
	{"* binds tighter than +", `1 + 2 * 3`, int64(7)},
	{"parentheses group", `(1 + 2) * 3`, int64(9)},
	{"- is left-associative", `10 - 4 - 3`, int64(3)},
	{"/ on ints truncates", `7 / 2`, int64(3)},
	{"/ on negative ints truncates toward zero", `-7 / 2`, int64(-3)},
	{"% is the remainder", `-7 % 3`, int64(-1)},
	{"/ with a double is a double", `7 / 2.0`, 3.5},
	{"ints and doubles mix", `payload.number + payload.ratio`, 42.25},
	{"JSON ints add as ints", `payload.number + 1`, int64(43)},
	{"unary minus", `-payload.number`, int64(-42)},
	{"unary minus on a double", `-payload.ratio`, -0.25},
	{"double negation", `- -3`, int64(3)},
	{"unary binds tighter than binary", `-2 * 3 + 10`, int64(4)},
	{"double division by zero is infinite", `1.0 / 0 > 1e308`, true},
	{"+ concatenates strings", `"a" + "b" + payload.action`, "abopened"},
	{"+ concatenates lists", `[1] + payload.repository.topics`, []any{int64(1), "iot", "home"}},

	// Comparison.
	{"== on strings", `payload.action == "opened"`, true},
	{"!= on strings", `payload.action != "opened"`, false},
	{"== on numbers across representations", `payload.number == 42.0`, true},
	{"== between int and double literals", `1 == 1.0`, true},
	{"large JSON ints compare exactly", `payload.big == 10000000000000001`, true},
	{"large JSON ints are not rounded", `payload.big != 10000000000000000`, true},
	{"a JSON int compares exactly with a double", `payload.big > 10000000000000000.0`, true},
	{"ints beyond int64 compare as doubles", `payload.huge > 9223372036854775807`, true},
	{"== between different types is false", `payload.number == "42"`, false},
	{"== on null", `null == null`, true},
	{"== on lists is deep", `payload.repository.topics == ["iot", "home"]`, true},
	{"== on lists with numbers is numeric", `[1, 2.0] == [1.0, 2]`, true},
	{"== on lists of different lengths", `[1] == [1, 1]`, false},
	{"== on maps is deep", `payload.pull_request.labels[0] == payload.pull_request.labels[0]`, true},
	{"== on different maps", `payload.sender == payload.repository`, false},
	{"< on numbers", `payload.number < 100`, true},
	{"<= on equal numbers", `payload.number <= 42`, true},
	{"> on mixed numbers", `payload.ratio > 0`, true},
	{">= on numbers", `1 >= 2`, false},
	{"< on strings is lexical", `"apple" < "banana"`, true},
	{"< on bools", `false < true`, true},
	{"relations are left-associative", `1 < 2 == true`, true},
	{"NaN is not equal to itself", `double("NaN") == double("NaN")`, false},
	{"NaN is unordered", `double("NaN") < 1 || double("NaN") >= 1`, false},

	// in.
	{"in a list", `"iot" in payload.repository.topics`, true},
	{"in a list of numbers", `2 in [1, 2, 3]`, true},
	{"in compares numbers numerically", `42.0 in [payload.number]`, true},
	{"not in a list", `"x" in payload.repository.topics`, false},
	{"in the keys of a map", `"action" in payload`, true},
	{"a missing key is not in a map", `"nope" in payload`, false},
	{"a non-string is not a key", `1 in payload`, false},
	{"in the headers", `"Content-Type" in header`, true},
	{"in a []string", `"v2" in ["v1", "v2"]`, true},

	// Logic.
	{"&&", `true && false`, false},
	{"||", `false || true`, true},
	{"! negates", `!payload.merged`, true},
	{"!! is the identity", `!!true`, true},
	{"&& binds tighter than ||", `true || false && false`, true},
	{"&& chains", `true && true && true`, true},
	{"|| chains", `false || false || false`, false},
	{"false && an error is false", `false && payload.missing`, false},
	{"an error && false is false", `payload.missing == 1 && false`, false},
	{"true || an error is true", `true || payload.missing`, true},
	{"an error || true is true", `payload.missing == 1 || true`, true},
	{"has() guards a field", `has(payload.missing) && payload.missing == 1`, false},
	{"the conditional picks the first branch", `payload.merged ? "merged" : "open"`, "open"},
	{"the conditional is right-associative", `false ? 1 : true ? 2 : 3`, int64(2)},
	{"the conditional binds loosest", `1 + 1 == 2 ? "yes" : "no"`, "yes"},
	{"the conditional does not evaluate the other branch", `true ? 1 : payload.missing`, int64(1)},

	// has.
	{"has() on a present field", `has(payload.repository)`, true},
	{"has() on a present nested field", `has(payload.repository.full_name)`, true},
	{"has() on a missing field", `has(payload.repository.name)`, false},
	{"has() on a null field", `has(payload.draft)`, true},
	{"has() on a header", `has(header.X_Nope)`, false},
	{"has() on a header, case-insensitively", `has(header.content_type) || has(header.Accept)`, false},
	{"has() on a path wildcard", `has(path.repo)`, true},
	{"has() on an empty map", `has(payload.empty.x)`, false},

	// Functions.
	{"size of a string counts characters", `size(payload.unicode)`, int64(11)},
	{"size as a method", `payload.unicode.size()`, int64(11)},
	{"size of a list", `size(payload.commits)`, int64(2)},
	{"size of a map", `size(payload.sender)`, int64(1)},
	{"size of the headers", `size(header)`, int64(4)},
	{"startsWith", `payload.repository.full_name.startsWith("octo/")`, true},
	{"startsWith with no match", `"abc".startsWith("b")`, false},
	{"endsWith", `payload.repository.full_name.endsWith("/lamp")`, true},
	{"contains", `payload.pull_request.title.contains("lamp")`, true},
	{"contains the empty string", `"".contains("")`, true},
	{"matches", `payload.repository.full_name.matches("^[a-z]+/[a-z]+$")`, true},
	{"matches finds a match anywhere", `"refs/heads/main".matches("heads")`, true},
	{"matches with a pattern from data", `"v1.2.3".matches(payload.commits[0].id.startsWith("a") ? r"^v\d" : "x")`, true},
	{"lowerAscii", `"ÀBC def".lowerAscii()`, "Àbc def"},
	{"upperAscii", `"àbc DEF".upperAscii()`, "àBC DEF"},
	{"int of a string", `int("-12")`, int64(-12)},
	{"int of a double truncates", `int(-2.9)`, int64(-2)},
	{"int of a JSON number", `int(payload.number)`, int64(42)},
	{"int of a JSON double", `int(payload.ratio)`, int64(0)},
	{"int of an int", `int(7)`, int64(7)},
	{"double of an int", `double(2)`, 2.0},
	{"double of a string", `double("2.5")`, 2.5},
	{"double of a JSON number", `double(payload.big)`, 1e16},
	{"string of an int", `string(-5)`, "-5"},
	{"string of a double", `string(2.5)`, "2.5"},
	{"string of a large JSON int is exact", `string(payload.big)`, "10000000000000001"},
	{"string of a bool", `string(true)`, "true"},
	{"string of a string", `string("x")`, "x"},

	// Macros.
	{"exists over a list", `payload.repository.topics.exists(t, t == "iot")`, true},
	{"exists with no match", `payload.repository.topics.exists(t, t == "x")`, false},
	{"exists over an empty list", `[].exists(x, true)`, false},
	{"exists over maps in a list", `payload.pull_request.labels.exists(l, l.name == "bug")`, true},
	{"all over a list", `payload.commits.all(c, c.id.size() == 2)`, true},
	{"all with a counterexample", `payload.commits.all(c, !c.message.startsWith("WIP"))`, false},
	{"all over an empty list", `[].all(x, false)`, true},
	{"exists over the keys of a map", `payload.sender.exists(k, k == "login")`, true},
	{"all over the keys of the headers", `header.all(h, h.startsWith("X-") || h == "Content-Type")`, true},
	{"exists_one with one match", `[1, 2, 3].exists_one(x, x > 2)`, true},
	{"exists_one with two matches", `[1, 2, 3].exists_one(x, x > 1)`, false},
	{"macros nest", `payload.commits.exists(c, c.added.exists(f, f.endsWith(".go")))`, true},
	{"a loop variable shadows a variable", `[1].all(payload, payload == 1)`, true},
	{"inner loop variables shadow outer ones", `[[2]].all(x, x.all(x, x == 2))`, true},
	{"exists absorbs an error when an element matches", `payload.commits.exists(c, c.nope == 1 || c.id == "b2")`, true},
	{"all absorbs an error when an element fails", `[1, "a"].all(x, x > 5)`, false},
}

// outcome is what an expression gives now where it differs from rule/:
// a value, or an error at compile or evaluation time containing err.
type outcome struct {
	want    any
	compile string // a compile error contains this
	eval    string // an evaluation error contains this
}

// changedEval are the expressions of oldEval whose answer changed, by
// name, with the new answer. Each is in CHANGELOG.md and docs/rules.md.
var changedEval = map[string]outcome{
	// CEL does not mix int and double in arithmetic, nor compare
	// literals of the two types.
	"/ with a double is a double":         {compile: "no matching overload for '_/_' applied to '(int, double)'"},
	"ints and doubles mix":                {eval: "no such overload"},
	"double division by zero is infinite": {compile: "no matching overload for '_/_' applied to '(double, int)'"},
	"== between int and double literals":  {compile: "no matching overload for '_==_' applied to '(int, double)'"},
	// cel-go compares an int and a double as doubles: 10000000000000001
	// is 1e16 then.
	"a JSON int compares exactly with a double": {want: false},
}

func TestOldCorpus(t *testing.T) {
	env := testEnv(t)
	seen := map[string]bool{}
	for _, tt := range oldEval {
		if seen[tt.name] {
			t.Fatalf("two cases are named %q", tt.name)
		}
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			want := outcome{want: tt.want}
			if c, ok := changedEval[tt.name]; ok {
				want = c
			}
			check(t, tt.src, env, want)
		})
	}
	for name := range changedEval {
		if !seen[name] {
			t.Errorf("changedEval names %q, which is not in oldEval", name)
		}
	}
}

// check compiles and evaluates src over env and compares with want.
func check(t *testing.T, src string, env map[string]any, want outcome) {
	t.Helper()
	p, err := Compile(src)
	if want.compile != "" {
		if err == nil || !strings.Contains(err.Error(), want.compile) {
			t.Fatalf("Compile(%q) = %v, want an error containing %q", src, err, want.compile)
		}
		return
	}
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	got, err := p.Eval(env)
	if want.eval != "" {
		if err == nil || !strings.Contains(err.Error(), want.eval) {
			t.Fatalf("Eval(%q) = %#v, %v, want an error containing %q", src, got, err, want.eval)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Eval(%q) error is %T, want *Error", src, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Eval(%q): %v", src, err)
	}
	if !same(got, want.want) {
		t.Errorf("Eval(%q) = %#v (%T), want %#v (%T)", src, got, got, want.want, want.want)
	}
}

// same compares an answer with rule/'s, where a JSON number was a
// json.Number and is now an int64 or a float64 of the same value.
func same(got, want any) bool {
	if n, ok := want.(json.Number); ok {
		switch g := got.(type) {
		case int64:
			return n.String() == fmt.Sprint(g)
		case float64:
			f, err := n.Float64()
			return err == nil && f == g
		case json.Number:
			return g == n
		}
		return false
	}
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !same(g[i], w[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k := range w {
			if !same(g[k], w[k]) {
				return false
			}
		}
		return true
	case float64:
		g, ok := got.(float64)
		return ok && (g == w || math.IsNaN(g) && math.IsNaN(w))
	}
	return fmt.Sprintf("%#v", got) == fmt.Sprintf("%#v", want)
}

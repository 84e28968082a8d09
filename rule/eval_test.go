package rule

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// postboxVars are the variables postbox declares for a hook's rules.
var postboxVars = []string{"payload", "header", "query", "path", "method", "body", "remote", "vars"}

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

// testEnv is a request as postbox would present it to a rule.
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

func TestEval(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		name string
		src  string
		want any
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src, postboxVars)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.src, err)
			}
			got, err := p.Eval(env)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.src, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval(%q) = %#v (%T), want %#v (%T)", tt.src, got, got, tt.want, tt.want)
			}
		})
	}
}

func TestEvalBool(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		name    string
		src     string
		want    bool
		wantErr string
	}{
		{"the GitHub example matches", `payload.action == "opened" && header["X-GitHub-Event"] == "pull_request"`, true, ""},
		{"a false condition", `payload.action == "closed"`, false, ""},
		{"a bool field is a condition", `payload.repository.private`, false, ""},
		{"a string field is not a condition", `payload.action`, false, `the condition is string "opened", not true or false`},
		{"null is not a condition", `payload.draft`, false, `the condition is null, not true or false`},
		{"a missing field is an error", `payload.nope`, false, `column 9: no such key: payload.nope`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompileBool(tt.src, postboxVars)
			if err != nil {
				t.Fatalf("CompileBool: %v", err)
			}
			got, err := p.EvalBool(env)
			if msg := errString(err); msg != tt.wantErr {
				t.Fatalf("EvalBool error = %q, want %q", msg, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("EvalBool = %v, want %v", got, tt.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestProgramString(t *testing.T) {
	src := ` payload.action == "opened" `
	p, err := Compile(src, postboxVars)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != src {
		t.Errorf("String() = %q, want %q", p.String(), src)
	}
}

func TestProgramIsReusable(t *testing.T) {
	p, err := Compile(`[1, 2].exists(x, x == vars.n)`, postboxVars)
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int64]bool{0: false, 1: true, 3: false} {
		got, err := p.EvalBool(map[string]any{"vars": map[string]any{"n": n}})
		if err != nil || got != want {
			t.Errorf("with n = %d: %v, %v; want %v", n, got, err, want)
		}
	}
}

func TestGoValues(t *testing.T) {
	// Values that do not come from JSON: form fields, Go numbers.
	env := map[string]any{
		"payload": map[string]any{
			"tags": []string{"a", "b"},
			"file": map[string]any{"size": 1024},
			"u":    uint64(math.MaxUint64),
			"f32":  float32(0.5),
			"i8":   int8(-3),
		},
		"header": map[string][]string{"X-Exact": {"1"}},
	}
	tests := []struct {
		name string
		src  string
		want any
	}{
		{"a []string is a list", `payload.tags == ["a", "b"] && size(payload.tags) == 2 && "b" in payload.tags`, true},
		{"a []string concatenates", `payload.tags + ["c"]`, []any{"a", "b", "c"}},
		{"a Go int is a number", `payload.file.size > 1000`, true},
		{"a uint64 beyond int64 is a double", `payload.u > 9223372036854775807`, true},
		{"a float32 is a number", `payload.f32 == 0.5`, true},
		{"an int8 is a number", `payload.i8 + 1`, int64(-2)},
		{"a plain map[string][]string is looked up exactly", `"x-exact" in header || header["X-Exact"] != "1"`, false},
		{"loops visit a []string", `payload.tags.exists(t, t == "b")`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src, postboxVars)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(env)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
		})
	}
}

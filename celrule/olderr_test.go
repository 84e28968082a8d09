package celrule

import (
	"errors"
	"testing"
)

// oldCompileErrors and oldEvalErrors are the tables of rule/errors_test.go:
// expressions rule/ refused when compiling them, or failed to evaluate over
// testEnv, with its message. The messages are cel-go's now; the refusals
// stay, except where acceptedNow says.
var oldCompileErrors = []struct{ name, src, want string }{
	// Names.
	{"an unknown variable is named with a suggestion", `payload.action == "x" || paylod.x`, `column 26: unknown variable "paylod" (did you mean "payload"?)`},
	{"an unknown variable far from any name has no suggestion", `request.body`, `column 1: unknown variable "request"`},
	{"a loop variable is suggested", `[1].exists(item, itme > 0)`, `column 18: unknown variable "itme" (did you mean "item"?)`},
	{"a loop variable is out of scope after its loop", `[1].exists(x, true) && x`, `column 24: unknown variable "x"`},
	{"a reserved word is not a name", `if`, `column 1: "if" is a reserved word`},
	{"a reserved word is not a function", `for(1)`, `column 1: "for" is a reserved word`},

	// Syntax.
	{"an empty expression", ``, `column 1: expression is incomplete`},
	{"a missing operand", `payload.action ==`, `column 18: expression is incomplete`},
	{"a stray token after an expression", `payload.action "x"`, `column 16: unexpected string "x" after a complete expression`},
	{"an unclosed parenthesis", `(1 + 2`, `column 7: expected ")" to close the parenthesis, found the end of the expression`},
	{"an unclosed index", `payload["a"`, `column 12: expected "]" to close the index, found the end of the expression`},
	{"an unclosed list", `[1, 2`, `column 6: expected "," or "]", found the end of the expression`},
	{"a missing colon", `true ? 1`, `column 9: expected ":" in a ? : conditional, found the end of the expression`},
	{"a single =", `payload.action = "x"`, `column 16: unexpected "=" (use == to compare)`},
	{"a single &", `true & false`, `column 6: unexpected "&" (use && for "and")`},
	{"a single |", `true | false`, `column 6: unexpected "|" (use || for "or")`},
	{"a keyword after a dot", `payload.in`, `column 9: expected a field or method name after ".", found "in"`},
	{"a leading dot", `.payload`, `column 1: unexpected "."; names cannot start with a dot`},
	{"mixed unary operators", `!-1`, `column 2: "-" cannot follow "!"; use parentheses`},
	{"a map literal", `{"a": 1}`, `column 1: map literals ({...}) are not supported`},
	{"a trailing comma in a call", `size("a",)`, `column 10: unexpected ")"`},
	{"an unexpected character", `payload.a # b`, `column 11: unexpected character '#'`},
	{"a non-ASCII character outside a string", `payload.a ≠ 1`, `column 11: unexpected character '≠'`},

	// Literals.
	{"an unterminated string", `"abc`, `column 1: string is not terminated`},
	{"a string across lines", "'a\nb'", `line 1, column 1: string is not terminated`},
	{"an unknown escape", `"a\qb"`, `column 3: unknown escape sequence \q`},
	{"a short hex escape", `"\x4"`, `column 2: malformed escape sequence "\\x4\""`},
	{"a surrogate escape", `"\ud800"`, `column 2: escape sequence "\\ud800" is not a valid code point`},
	{"an escape beyond Unicode", `"\U00110000"`, `column 2: escape sequence "\\U00110000" is not a valid code point`},
	{"a triple-quoted string", `"""a"""`, `column 1: triple-quoted strings are not supported`},
	{"a byte string", `b"a"`, `column 1: byte strings (b"...") are not supported`},
	{"an unsigned literal", `1u`, `column 1: unsigned integer literals (1u) are not supported`},
	{"a number run into letters", `12ab`, `column 1: malformed number "12ab"`},
	{"an int literal out of range", `9223372036854775808`, `column 1: integer literal 9223372036854775808 is out of range`},
	{"a negative int literal out of range", `-9223372036854775809`, `column 2: integer literal 9223372036854775809 is out of range`},
	{"a hex literal with a capital X", `0XFF`, `column 1: malformed number "0XFF"`},
	{"a hex literal without digits", `0x`, `column 1: hexadecimal literal "0x" has no digits`},
	{"a float literal out of range", `1e999`, `column 1: number literal 1e999 is out of range`},

	// Functions.
	{"an unknown function", `lower(payload.a)`, `column 1: unknown function "lower"`},
	{"an unknown method is suggested", `payload.a.startswith("x")`, `column 11: unknown method "startswith" (did you mean "startsWith"?)`},
	{"a method called as a function", `startsWith(payload.a, "x")`, `column 1: startsWith is a method: write x.startsWith(...)`},
	{"a function called as a method", `payload.a.int()`, `column 11: int is not a method: write int(x)`},
	{"too many arguments", `size(payload.a, 1)`, `column 1: size takes 1 argument, got 2`},
	{"too few arguments", `payload.a.contains()`, `column 11: contains takes 1 argument, got 0`},
	{"an argument to a method that takes none", `payload.a.size(1)`, `column 11: size takes 0 arguments, got 1`},
	{"a macro with one argument", `payload.l.exists(x)`, `column 11: exists takes 2 arguments, got 1`},
	{"a macro without a variable name", `payload.l.all(1, true)`, `column 15: the first argument of all must be a variable name`},
	{"has() without a field", `has(payload)`, `column 5: has() needs a field selection, such as has(payload.field); for a key that is not a name, write "key" in map`},
	{"has() on an index", `has(header["X"])`, `column 11: has() needs a field selection, such as has(payload.field); for a key that is not a name, write "key" in map`},
	{"an invalid literal regular expression", `payload.a.matches("(")`, "column 19: invalid regular expression: error parsing regexp: missing closing ): `(`"},

	// Types that are known before evaluation.
	{"adding a string and an int", `"a" + 1`, `column 5: + cannot add a string and an int`},
	{"adding bools", `payload.a + true`, `column 11: + needs numbers, strings or lists, not a bool`},
	{"subtracting strings", `"b" - "a"`, `column 5: - needs numbers, not a string`},
	{"remainder of a double", `payload.n % 2.0`, `column 11: % needs integers, not a double`},
	{"comparing a number with a string", `1 < "2"`, `column 3: < cannot compare an int with a string`},
	{"ordering lists", `[1] < [2]`, `column 5: < compares numbers, strings or bools, not a list`},
	{"negating a string", `!"a"`, `column 1: ! needs a bool, not a string`},
	{"minus on a string", `-"a"`, `column 1: - needs a number, not a string`},
	{"&& on an int", `payload.a && 1`, `column 11: && needs bools, but 1 is an int`},
	{"|| on a string", `"a" || true`, `column 5: || needs bools, but "a" is a string`},
	{"a non-bool condition in ?:", `1 ? 2 : 3`, `column 3: the condition before ? must be a bool, not an int`},
	{"in on a string", `"a" in payload.s.lowerAscii()`, `column 5: "in" needs a list or a map on its right, not a string (for a substring, use s.contains(sub))`},
	{"a field of a string", `"abc".length`, `column 7: cannot select field "length": "abc" is a string, not a map`},
	{"an index into an int", `1[0]`, `column 2: cannot index an int`},
	{"a string index into a list", `[1]["a"]`, `column 5: a list index must be an int, not a string`},
	{"a bool index", `payload[true]`, `column 9: an index must be an int or a string, not a bool`},
	{"size of an int", `size(1)`, `column 1: size cannot take an int`},
	{"startsWith on a list", `[1].startsWith("a")`, `column 5: startsWith cannot take a list`},
	{"startsWith of an int", `payload.a.startsWith(1)`, `column 22: the argument of startsWith must be a string, not an int`},
	{"int of a bool", `int(true)`, `column 1: int cannot take a bool`},
	{"string of a list", `string([1])`, `column 1: string cannot take a list`},
	{"a loop over a string", `"abc".exists(c, true)`, `column 7: exists needs a list or a map, not a string`},
	{"a loop condition that is not a bool", `payload.l.all(x, "yes")`, `column 18: the condition of all must be a bool, not a string`},

	// Places.
	{"a column counts characters, not bytes", `"ünïcödé" + 1`, `column 11: + cannot add a string and an int`},
	{"a multi-line expression names the line", "payload.a == 1 &&\n  paylod.b == 2", `line 2, column 3: unknown variable "paylod" (did you mean "payload"?)`},
}
var oldEvalErrors = []struct {
	name, src, want string
	target          error
}{
	{"a missing field names its path", `payload.repository.name == "lamp"`, `column 20: no such key: payload.repository.name`, nil},
	{"a missing key names its path", `payload["repository"]["name"]`, `column 22: no such key: payload["repository"]["name"]`, nil},
	{"a missing header", `header["X-Nope"] == "1"`, `column 7: no such key: header["X-Nope"]`, nil},
	{"a missing query parameter", `query.page`, `column 7: no such key: query.page`, nil},
	{"a missing field inside a loop", `payload.commits.all(c, c.author == "x")`, `column 26: no such key: c.author`, nil},
	{"a field of a string", `payload.action.name`, `column 16: cannot select field "name": payload.action is string "opened", not a map`, nil},
	{"a field of null", `payload.draft.name`, `column 15: cannot select field "name": payload.draft is null, not a map`, nil},
	{"an index out of range", `payload.commits[2]`, `column 16: index 2 is out of range: payload.commits has 2 elements`, nil},
	{"a negative index", `payload.commits[-1]`, `column 16: index -1 is out of range: payload.commits has 2 elements`, nil},
	{"a fractional index", `payload.commits[payload.ratio]`, `column 16: a list index must be an int, got double 0.25 (payload.commits[payload.ratio])`, nil},
	{"a string index into a list", `payload.commits["0"]`, `column 16: a list index must be an int, got string "0" (payload.commits["0"])`, nil},
	{"an int key into a map", `payload[0]`, `column 8: a map key must be a string, got int 0 (payload[0])`, nil},
	{"an index into a string", `payload.action[0]`, `column 15: cannot index string "opened" (payload.action)`, nil},
	{"int overflow in +", `9223372036854775807 + payload.number`, `column 21: integer overflow in 9223372036854775807 + 42`, nil},
	{"int overflow in -", `-9223372036854775808 - 1`, `column 22: integer overflow in -9223372036854775808 - 1`, nil},
	{"int overflow in *", `payload.big * payload.big`, `column 13: integer overflow in 10000000000000001 * 10000000000000001`, nil},
	{"int overflow in /", `-9223372036854775808 / (payload.number - 43)`, `column 22: integer overflow in -9223372036854775808 / -1`, nil},
	{"int overflow in unary minus", `-(-9223372036854775808 + payload.number - 42)`, `column 1: integer overflow in -(-9223372036854775808)`, nil},
	{"int division by zero", `payload.number / 0`, `column 16: division by zero`, nil},
	{"int remainder by zero", `payload.number % 0`, `column 16: division by zero`, nil},
	{"remainder of a JSON double", `payload.ratio % 2`, `column 15: % needs two integers, got double 0.25 and int 2`, nil},
	{"arithmetic on a string field", `payload.action * 2`, `column 16: * needs two numbers, got string "opened" and int 2`, nil},
	{"adding a string field and a number", `payload.action + 1`, `column 16: + needs two numbers, two strings or two lists, got string "opened" and int 1`, nil},
	{"ordering a string and a number", `payload.action < 1`, `column 16: cannot compare string "opened" with int 1`, nil},
	{"ordering lists", `payload.commits < payload.commits`, `column 17: cannot compare list with list`, nil},
	{"! on a string field", `!payload.action`, `column 1: ! needs a bool, got string "opened"`, nil},
	{"- on a string field", `-payload.action`, `column 1: - needs a number, got string "opened"`, nil},
	{"&& on a string field", `true && payload.action`, `column 6: && needs bools, but operand 2 is string "opened"`, nil},
	{"an error && true is the error", `payload.nope && true`, `column 9: no such key: payload.nope`, nil},
	{"an error || false is the error", `payload.nope || false`, `column 9: no such key: payload.nope`, nil},
	{"the first of two errors is kept", `payload.a || payload.b`, `column 9: no such key: payload.a`, nil},
	{"a non-bool condition in ?:", `payload.action ? 1 : 2`, `column 16: the condition before ? must be a bool, got string "opened"`, nil},
	{"in on a string", `"open" in payload.action`, `column 8: "in" needs a list or a map on its right, got string "opened" (for a substring, use s.contains(sub))`, nil},
	{"has() on a string field", `has(payload.action.x)`, `column 1: has() cannot test field "x": payload.action is string "opened", not a map`, nil},
	{"size of a number", `size(payload.number)`, `column 1: size needs a string, a list or a map, got int 42`, nil},
	{"startsWith on a number", `payload.number.startsWith("4")`, `column 16: startsWith needs a string, got int 42`, nil},
	{"contains with a number", `payload.action.contains(payload.number)`, `column 16: the argument of contains must be a string, got int 42`, nil},
	{"matches on a number", `payload.number.matches("4")`, `column 16: matches needs a string, got int 42`, nil},
	{"matches with an invalid pattern from data", `"a".matches(payload.action + "(")`, "column 5: invalid regular expression: error parsing regexp: missing closing ): `opened(`", nil},
	{"lowerAscii on a list", `payload.commits.lowerAscii()`, `column 17: lowerAscii needs a string, got list`, nil},
	{"int of a non-number string", `int(payload.action)`, `column 1: int cannot convert string "opened"`, nil},
	{"int of a huge double", `int(1e19)`, `column 1: int cannot convert double 1e+19: out of range`, nil},
	{"int of NaN", `int(double("NaN"))`, `column 1: int cannot convert double NaN: out of range`, nil},
	{"int of null", `int(payload.draft)`, `column 1: int cannot convert null`, nil},
	{"double of a non-number string", `double("1,5")`, `column 1: double cannot convert string "1,5"`, nil},
	{"double of a map", `double(payload.sender)`, `column 1: double cannot convert map`, nil},
	{"string of null", `string(payload.draft)`, `column 1: string cannot convert null`, nil},
	{"a loop over a string", `payload.action.exists(c, true)`, `column 16: exists needs a list or a map, got string "opened"`, nil},
	{"a loop condition that is not a bool", `payload.commits.all(c, c.id)`, `column 17: the condition of all must be a bool, got string "a1"`, nil},
	{"exists keeps an error when nothing matches", `payload.commits.exists(c, c.nope)`, `column 29: no such key: c.nope`, nil},
	{"exists_one keeps an error", `[1, "a"].exists_one(x, x > 0)`, `column 26: cannot compare string "a" with int 0`, nil},
	{"a long path is shortened", `payload.commits[0].added[0].x.y.z.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, `column 29: cannot select field "x": payload.commits[0].added[0] is string "a.go", not a map`, nil},
	{"a multi-line expression names the line", "payload.action == \"opened\" &&\n  payload.nope", `line 2, column 11: no such key: payload.nope`, nil},
}

// acceptedNow are the expressions rule/ refused that are CEL, by name,
// with their answer now.
var acceptedNow = map[string]outcome{
	"a leading dot":          {want: "opened"}, // .payload is payload, from the root scope
	"a map literal":          {want: map[string]any{"a": int64(1)}},
	"a triple-quoted string": {want: "a"},
	"a byte string":          {want: []byte("a")},
	"an unsigned literal":    {want: uint64(1)},
	"a bool index":           {eval: "no such key: true"},
}

func TestOldErrors(t *testing.T) {
	env := testEnv(t)
	for _, tt := range oldCompileErrors {
		t.Run(tt.name, func(t *testing.T) {
			if now, ok := acceptedNow[tt.name]; ok {
				if tt.name == "a leading dot" {
					tt.src += ".action"
				}
				check(t, tt.src, env, now)
				return
			}
			_, err := Compile(tt.src)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) = %v, want an *Error (rule/ said %s)", tt.src, err, tt.want)
			}
			if e.Column == 0 && tt.src != "" {
				t.Errorf("Compile(%q) = %v: no column", tt.src, err)
			}
		})
	}
	for _, tt := range oldEvalErrors {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src)
			if err != nil {
				// Constant folding finds int(1e19) when compiling.
				return
			}
			v, err := p.Eval(env)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Eval(%q) = %#v, %v, want an *Error (rule/ said %s)", tt.src, v, err, tt.want)
			}
		})
	}
}

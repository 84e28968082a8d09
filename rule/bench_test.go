package rule

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkEval evaluates a typical condition over a GitHub payload.
func BenchmarkEval(b *testing.B) {
	p, err := CompileBool(`payload.action == "opened" && header["X-Github-Event"] == "pull_request"`, postboxVars)
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.EvalBool(env)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkEvalLoop evaluates a condition with a loop and a literal
// regular expression.
func BenchmarkEvalLoop(b *testing.B) {
	p, err := CompileBool(`payload.commits.exists(c, c.message.matches("^WIP")) && payload.pull_request.labels.all(l, l.name != "skip")`, postboxVars)
	if err != nil {
		b.Fatal(err)
	}
	env := testEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.EvalBool(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile compiles the typical condition.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompileBool(`payload.action == "opened" && header["X-Github-Event"] == "pull_request"`, postboxVars); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimits measures how long the most expensive evaluations take
// before a limit stops them: the worst a hostile payload can cost.
func BenchmarkLimits(b *testing.B) {
	list := make([]any, MaxIterations)
	for i := range list {
		list[i] = strings.Repeat("x", 100) + strconv.Itoa(i)
	}
	env := map[string]any{
		"body":    strings.Repeat("ab", 1<<19),
		"payload": map[string]any{"list": list, "small": list[:100], "half": strings.Repeat("ab", 1<<18)},
	}
	cases := []struct{ name, src string }{
		{"long loop", `payload.list.exists(x, x == "y")`},
		{"nested loops", `payload.list.exists(x, payload.list.exists(y, x == y + "z"))`},
		{"loop with a large body", `payload.list.exists(x, x.size() == 3 && x.startsWith("a") || x.endsWith("b") && x.contains("c") || x.matches("^d") || x.lowerAscii() == "e" || x.upperAscii() == "f")`},
		{"scanning a long string in a loop", `payload.small.exists(x, body.contains("z"))`},
		{"concatenating in a loop", `payload.small.exists(x, size(payload.half + payload.half) == 0)`},
		{"regular expression on a long string", `body.matches("(a|b)*c")`},
		{"costly regular expression", `body.matches("[a-q][^u-z]{13}x")`},
		{"regular expressions from data", `payload.list.exists(x, "abc".matches(x + "(a|b|c)*d"))`},
		{"errors in a loop", `payload.list.exists(x, x.nope || x < 1)`},
		{"deep equality", `payload.list == payload.list && payload.list == payload.list`},
	}
	for _, c := range cases {
		p, err := Compile(c.src, postboxVars)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Eval(env)
			}
		})
	}
}

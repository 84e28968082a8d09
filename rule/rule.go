// Package rule is a small expression language for webhook conditions and
// extracted values, such as
//
//	payload.action == "opened" && header["X-Github-Event"] == "pull_request"
//
// Its syntax is a strict subset of CEL (the Common Expression Language), so
// that what users know of CEL applies here and a later move to cel-go stays
// possible: every expression this package accepts parses in CEL and, on
// JSON data, means the same, except where docs/rules.md lists a difference
// (chiefly that ints and doubles mix freely in arithmetic).
//
// An expression is compiled once, with the names of the variables it may
// use, and evaluated many times. Compile finds syntax errors, unknown
// variables and functions, wrong argument counts and operands of the wrong
// type where the type is known; errors name a column. Evaluation works on
// the values encoding/json produces with UseNumber (map[string]any, []any,
// string, bool, nil, json.Number), Go numbers, []string, map[string]string,
// and map[string][]string, http.Header and url.Values, whose index gives
// the first value. An http.Header is indexed case-insensitively, as HTTP
// header names are.
//
// Every evaluation is bounded, whatever the data: see MaxCost,
// MaxIterations and MaxConcat. A Program is safe for concurrent use.
package rule

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on what an expression may be and do. They are fixed so that any
// rule in any configuration is bounded in the same way.
const (
	// MaxSourceLen is the longest expression Compile accepts, in bytes.
	MaxSourceLen = 4096
	// MaxDepth is how deeply parentheses, lists, calls and unary
	// operators may nest.
	MaxDepth = 64
	// MaxConcat is the longest string, in bytes, or list, in elements,
	// that + may build.
	MaxConcat = 1 << 20
	// MaxIterations is how many elements exists, all and exists_one may
	// visit in one evaluation, nested loops counted in full.
	MaxIterations = 100_000
	// MaxCost bounds the work of one evaluation: each step of a loop
	// costs the size of its body; work on strings and lists costs one
	// per 64 bytes read, 16 bytes allocated or element visited; and
	// matches costs the length of the string times the size of the
	// pattern's program, over 16.
	MaxCost = 1_000_000
)

var (
	// ErrLimit is wrapped by an evaluation error that stopped at one of
	// the limits. Unlike other errors, && and || never absorb it.
	ErrLimit = errors.New("limit exceeded")
	// ErrNoSuchKey is wrapped by the evaluation error of a field or map
	// key that is not there; has() tests for presence without it.
	ErrNoSuchKey = errors.New("no such key")
)

// Error is a compile or evaluation error at a place in the expression.
type Error struct {
	Line   int // 1-based; 0 when the expression is one line
	Column int // 1-based, in characters; 0 when the error has no place
	Msg    string
	Err    error // ErrLimit, ErrNoSuchKey or nil

	off int // byte offset, turned into Line and Column by locate
}

// Error returns "column 12: unknown variable ...", with "line 2, " before
// the column when the expression spans lines.
func (e *Error) Error() string {
	switch {
	case e.Column == 0:
		return e.Msg
	case e.Line == 0:
		return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
	default:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
}

// Unwrap returns ErrLimit, ErrNoSuchKey or nil.
func (e *Error) Unwrap() error { return e.Err }

// errAt returns an error at byte offset off, to be located by locate.
func errAt(off int, format string, args ...any) *Error {
	return &Error{off: off, Msg: fmt.Sprintf(format, args...)}
}

// locate sets e's line and column from its offset in src.
func (e *Error) locate(src string) *Error {
	off := min(max(e.off, 0), len(src))
	before := src[:off]
	nl := strings.LastIndexByte(before, '\n')
	e.Column = utf8.RuneCountInString(before[nl+1:]) + 1
	if strings.Contains(src, "\n") {
		e.Line = strings.Count(before, "\n") + 1
	}
	return e
}

// Program is a compiled expression. Its zero value is not usable; get one
// from Compile or CompileBool.
type Program struct {
	src  string
	root evalFn
	typ  typ
	// nlocals is how many loop variables are live at most at once.
	nlocals int
}

// Compile parses and checks src, which may refer to the variables named in
// vars and to no others.
func Compile(src string, vars []string) (*Program, error) {
	if len(src) > MaxSourceLen {
		return nil, &Error{Msg: fmt.Sprintf("expression is %d bytes long; the limit is %d", len(src), MaxSourceLen)}
	}
	if !utf8.ValidString(src) {
		return nil, &Error{Msg: "expression is not valid UTF-8"}
	}
	n, err := parse(src)
	if err != nil {
		return nil, err.locate(src)
	}
	c := &compiler{src: src, vars: vars}
	fn, t, cerr := c.compile(n)
	if cerr != nil {
		return nil, cerr.locate(src)
	}
	return &Program{src: src, root: fn, typ: t, nlocals: c.maxLocals}, nil
}

// CompileBool is Compile for a condition: it also refuses an expression
// whose result can never be a bool, such as a string literal or a sum. An
// expression whose type is only known at evaluation, such as payload.merged,
// is accepted; EvalBool checks it then.
func CompileBool(src string, vars []string) (*Program, error) {
	p, err := Compile(src, vars)
	if err != nil {
		return nil, err
	}
	if p.typ != tyDyn && p.typ != tyBool {
		return nil, &Error{Column: 1, Msg: fmt.Sprintf("a condition must be true or false, but this expression is a%s %s",
			article(p.typ.String()), p.typ)}
	}
	return p, nil
}

// String returns the source of the expression.
func (p *Program) String() string { return p.src }

// Eval evaluates the expression over env, which maps the variable names
// given to Compile to their values. The result is nil, a bool, an int64, a
// float64, a string, a []any, or a value taken from env as it is (such as
// a json.Number or a map).
func (p *Program) Eval(env map[string]any) (any, error) {
	s := &state{env: env, prog: p}
	if p.nlocals > 0 {
		s.locals = make([]any, p.nlocals)
	}
	v, err := p.root(s)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Column == 0 && e.off >= 0 {
			e.locate(p.src)
		}
		return nil, err
	}
	return v, nil
}

// EvalBool is Eval for a condition: a result other than a bool is an error.
func (p *Program) EvalBool(env map[string]any) (bool, error) {
	v, err := p.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, &Error{Msg: fmt.Sprintf("the condition is %s, not true or false", describe(v))}
	}
	return b, nil
}

// article returns "n" before a word that starts with a vowel, else "".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "n"
	}
	return ""
}

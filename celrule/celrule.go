// Package celrule compiles and evaluates the CEL expressions of a hook's
// when: and vars:, such as
//
//	payload.action == "opened" && header["X-GitHub-Event"] == "pull_request"
//
// The language is CEL, the Common Expression Language
// (https://cel.dev), as google/cel-go implements it, with its standard
// macros and functions and the extensions listed in docs/rules.md. This
// package declares the variables a rule may read (see Vars), adapts the
// values a request carries to CEL, adds fromJSON, and bounds every
// evaluation (MaxCost).
//
// An expression is compiled and type-checked once, when the configuration
// is loaded, and evaluated for each request. Errors name a column (and a
// line, when the expression spans lines). A Program is safe for concurrent
// use.
package celrule

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Limits on what an expression may be and do. They are fixed so that any
// rule in any configuration is bounded in the same way.
const (
	// MaxSourceLen is the longest expression Compile accepts, in
	// characters.
	MaxSourceLen = 4096
	// MaxCost bounds the work of one evaluation of an expression with
	// loops: each value it reads from the request costs one unit, and a
	// string one more per 64 bytes, each time it is read (see budget).
	// An expression without loops does work in proportion to its
	// length and the size of the request, which max_body bounds.
	MaxCost = 1_000_000
)

// ErrLimit is wrapped by an evaluation error that stopped at MaxCost.
var ErrLimit = errors.New("limit exceeded")

// Error is a compile or evaluation error at a place in the expression.
type Error struct {
	Line   int // 1-based; 0 when the expression is one line
	Column int // 1-based, in characters; 0 when the error has no place
	Msg    string
	Err    error // ErrLimit, the cel-go error, or nil
}

// Error returns "column 12: undeclared reference to ...", with "line 2, "
// before the column when the expression spans lines.
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

// Unwrap returns the error underneath: ErrLimit or cel-go's.
func (e *Error) Unwrap() error { return e.Err }

// Program is a compiled expression. Its zero value is not usable; get one
// from Compile or CompileBool.
type Program struct {
	src string
	ast *cel.Ast
	prg cel.Program
	// budgeted is whether the expression has a loop (a macro such as
	// exists or map), and so is evaluated within a budget: without one,
	// its work is bounded by its length and the request's size. An
	// index computed from the data (l[payload.i]) takes the same path,
	// on which every value is adapted, so that a JSON number indexes.
	budgeted bool
}

var (
	envOnce sync.Once
	theEnv  *cel.Env
	envErr  error
)

// env returns the one environment every rule is compiled in. cel-go's
// Env is safe for concurrent use once built.
func env() (*cel.Env, error) {
	envOnce.Do(func() { theEnv, envErr = newEnv() })
	return theEnv, envErr
}

// Compile parses and type-checks src against the variables of Vars.
func Compile(src string) (*Program, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("internal error: the CEL environment: %w", err)
	}
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Msg: "the expression is empty"}
	}
	ast, iss := e.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, compileError(src, iss.Errors())
	}
	prg, err := e.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		// A literal regular expression that does not compile, or is
		// too large, is found here.
		return nil, &Error{Column: 1, Msg: cleanMessage(err.Error()), Err: err}
	}
	return &Program{src: src, ast: ast, prg: prg, budgeted: needsBudget(ast)}, nil
}

// CompileBool is Compile for a condition: it also refuses an expression
// whose type is known and is not bool, such as a string literal or a sum.
// An expression whose type is only known at evaluation, such as
// payload.merged, is accepted; EvalBool checks it then.
func CompileBool(src string) (*Program, error) {
	p, err := Compile(src)
	if err != nil {
		return nil, err
	}
	t := p.ast.OutputType()
	if !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &Error{Column: 1, Msg: fmt.Sprintf("a condition must be true or false, but this expression is of type %s", t)}
	}
	return p, nil
}

// String returns the source of the expression.
func (p *Program) String() string { return p.src }

// Eval evaluates the expression over env, which maps the names of Vars to
// their values: what encoding/json decodes (with or without UseNumber),
// Go strings, numbers and bools, map[string]string, http.Header and
// url.Values. The result is a Go value: nil, bool, int64, uint64,
// float64, string, []byte, time.Time, time.Duration, a []any or
// map[string]any built by the expression, or a value of env as it is.
func (p *Program) Eval(env map[string]any) (any, error) {
	v, err := p.eval(env)
	if err != nil {
		return nil, p.evalError(err)
	}
	return native(v), nil
}

// EvalBool is Eval for a condition: a result other than a bool is an error.
func (p *Program) EvalBool(env map[string]any) (bool, error) {
	v, err := p.eval(env)
	if err != nil {
		return false, p.evalError(err)
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, &Error{Msg: fmt.Sprintf("the condition is %s, not true or false", describe(v))}
	}
	return bool(b), nil
}

// eval evaluates the program over env within MaxCost.
func (p *Program) eval(env map[string]any) (ref.Val, error) {
	if !p.budgeted {
		v, _, err := p.prg.Eval(env)
		return v, err
	}
	b := &budget{vars: env, left: MaxCost}
	v, _, err := p.prg.Eval(b)
	if b.left < 0 {
		// || and && absorb the error of a value read past the
		// budget when the other side decides; the limit is still the
		// answer.
		return nil, errLimit
	}
	return v, err
}

// needsBudget reports whether the expression has a comprehension or an
// index that is not a literal.
func needsBudget(a *cel.Ast) bool {
	found := false
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.ComprehensionKind:
			found = true
		case ast.CallKind:
			c := e.AsCall()
			if fn := c.FunctionName(); (fn == operators.Index || fn == operators.OptIndex) &&
				len(c.Args()) == 2 && c.Args()[1].Kind() != ast.LiteralKind {
				found = true
			}
		}
	}))
	return found
}

// errLimit is what eval returns past MaxCost.
var errLimit = &Error{Msg: fmt.Sprintf("the evaluation costs more than the limit of %d", MaxCost), Err: ErrLimit}

// evalError places err, cel-go's, at the column of the node it came from.
func (p *Program) evalError(err error) error {
	e := &Error{Msg: cleanMessage(err.Error()), Err: err}
	if err == errLimit {
		return err
	}
	var ce *types.Err
	if errors.As(err, &ce) && ce.NodeID() != 0 {
		loc := p.ast.NativeRep().SourceInfo().GetStartLocation(ce.NodeID())
		e.Line, e.Column = place(p.src, loc)
	}
	return e
}

// compileError turns cel-go's issues into one Error: the first, with a
// count of the others.
func compileError(src string, errs []*common.Error) error {
	if len(errs) == 0 {
		return &Error{Msg: "the expression does not compile"}
	}
	first := errs[0]
	e := &Error{Msg: cleanMessage(first.Message)}
	e.Line, e.Column = place(src, first.Location)
	if s := suggestion(first.Message); s != "" {
		e.Msg += s
	}
	if len(errs) > 1 {
		e.Msg += fmt.Sprintf(" (and %d more %s)", len(errs)-1, plural(len(errs)-1, "error", "errors"))
	}
	return e
}

// place returns the 1-based line (0 for a one-line expression) and column
// of loc in src.
func place(src string, loc common.Location) (line, col int) {
	if loc == nil || loc.Line() <= 0 {
		return 0, 0
	}
	col = loc.Column() + 1
	if strings.Contains(src, "\n") {
		line = loc.Line()
	}
	return line, col
}

// cleanMessage drops what cel-go's messages say that means nothing to a
// user of postbox: the container, which is always empty.
func cleanMessage(msg string) string {
	msg = strings.ReplaceAll(msg, " (in container '')", "")
	msg = strings.TrimPrefix(msg, "Syntax error: ")
	return msg
}

// describe names a value's type and shows it, for an error message.
func describe(v ref.Val) string {
	s := fmt.Sprint(native(v))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%s %s", v.Type().TypeName(), s)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

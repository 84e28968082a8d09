package celrule

import (
	"net/http"
	"net/url"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
)

// budget is one evaluation's: the variables it reads and the work left
// before MaxCost. It is the evaluation's Activation, and the adapter of
// every value read from the request, so that each value an expression
// reaches is charged: one unit, plus one per 64 bytes of a string. A loop
// over a list of the payload pays for each element it visits; a loop
// that reads the body pays for the body at each step. Once the budget is
// spent, every further value is an error: the loops under way finish
// cheaply, no new one starts, and the evaluation fails with ErrLimit.
//
// Not cel.CostLimit: cel-go v0.31.0's cost tracker takes time quadratic
// in the number of loop steps (20,000 steps of l.all(x, true) take 1.7 s
// with it, 10 ms without), which a request with a long JSON list would
// turn against the server.
type budget struct {
	vars map[string]any
	left int
}

var (
	_ interpreter.Activation = (*budget)(nil)
	_ types.Adapter          = (*budget)(nil)
)

// spent is the error of every value read past the budget.
var spent = types.NewErr("the evaluation costs more than the limit of %d", MaxCost)

// charge takes the cost of v from the budget and reports whether it was
// there to take.
func (b *budget) charge(v any) bool {
	cost := 1
	switch v := v.(type) {
	case string:
		cost += len(v) / 64
	case types.String:
		cost += len(v) / 64
	}
	b.left -= cost
	return b.left >= 0
}

// ResolveName implements interpreter.Activation: a variable, adapted by
// b so that what the expression reaches inside it is charged.
func (b *budget) ResolveName(name string) (any, bool) {
	v, ok := b.vars[name]
	if !ok {
		return nil, false
	}
	if !b.charge(v) {
		return spent, true
	}
	switch v.(type) {
	case map[string]any, []any, http.Header, url.Values:
		return b.NativeToValue(v), true
	}
	return v, true
}

// Parent implements interpreter.Activation.
func (b *budget) Parent() interpreter.Activation { return nil }

// NativeToValue implements types.Adapter: theAdapter's conversion,
// charged, with b adapting what lies inside maps and lists.
func (b *budget) NativeToValue(v any) ref.Val {
	if !b.charge(v) {
		return spent
	}
	return theAdapter.adapt(b, v)
}

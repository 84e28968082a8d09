package rule

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// state is what one evaluation carries: the variables, the loop variables,
// and the work done so far.
type state struct {
	env    map[string]any
	prog   *Program
	locals []any
	cost   int
	iters  int
	// patterns are the regular expressions compiled from the data.
	patterns map[string]*pattern
}

// charge adds n to the cost of the evaluation.
func (s *state) charge(n int) error {
	s.cost += n
	if s.cost > MaxCost {
		return limitErr("the evaluation costs more than the limit of %d", MaxCost)
	}
	return nil
}

// errorCost is what an error that &&, || or a loop absorbs costs: making
// its message is work that a hostile payload could otherwise repeat for
// free.
const errorCost = 32

// rtErr returns an evaluation error; the node that fails gives it a place.
func rtErr(format string, args ...any) *Error {
	return &Error{off: -1, Msg: fmt.Sprintf(format, args...)}
}

func limitErr(format string, args ...any) *Error {
	e := rtErr(format, args...)
	e.Err = ErrLimit
	return e
}

// at gives err the place off if it has none yet.
func at(off int, err error) error {
	var e *Error
	if errors.As(err, &e) && e.off < 0 {
		e.off = off
	}
	return err
}

func isLimit(err error) bool { return errors.Is(err, ErrLimit) }

// num is a number: an int64, or a float64 when isFloat.
type num struct {
	i       int64
	f       float64
	isFloat bool
}

func (n num) float() float64 {
	if n.isFloat {
		return n.f
	}
	return float64(n.i)
}

func (n num) value() any {
	if n.isFloat {
		return n.f
	}
	return n.i
}

// toNum returns v as a number if it is one. A json.Number is an int64 when
// its text is an integer in range, so that large integers compare exactly,
// and otherwise a float64.
func toNum(v any) (num, bool) {
	switch x := v.(type) {
	case int64:
		return num{i: x}, true
	case float64:
		return num{f: x, isFloat: true}, true
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return num{i: i}, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return num{}, false
		}
		return num{f: f, isFloat: true}, true
	case int:
		return num{i: int64(x)}, true
	case int32:
		return num{i: int64(x)}, true
	case int16:
		return num{i: int64(x)}, true
	case int8:
		return num{i: int64(x)}, true
	case uint:
		return fromUint(uint64(x)), true
	case uint64:
		return fromUint(x), true
	case uint32:
		return num{i: int64(x)}, true
	case uint16:
		return num{i: int64(x)}, true
	case uint8:
		return num{i: int64(x)}, true
	case float32:
		return num{f: float64(x), isFloat: true}, true
	}
	return num{}, false
}

func fromUint(u uint64) num {
	if u > math.MaxInt64 {
		return num{f: float64(u), isFloat: true}
	}
	return num{i: int64(u)}
}

// cmpNum compares two numbers exactly, without rounding an int64 to a
// float64. ok is false when either is NaN.
func cmpNum(a, b num) (c int, ok bool) {
	switch {
	case !a.isFloat && !b.isFloat:
		return cmpOrdered(a.i, b.i), true
	case a.isFloat && b.isFloat:
		if math.IsNaN(a.f) || math.IsNaN(b.f) {
			return 0, false
		}
		return cmpOrdered(a.f, b.f), true
	case a.isFloat:
		c, ok := cmpIntFloat(b.i, a.f)
		return -c, ok
	default:
		return cmpIntFloat(a.i, b.f)
	}
}

func cmpOrdered[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpIntFloat(i int64, f float64) (int, bool) {
	switch {
	case math.IsNaN(f):
		return 0, false
	case f >= 1<<63:
		return -1, true
	case f < -(1 << 63):
		return 1, true
	}
	t := math.Trunc(f)
	if c := cmpOrdered(i, int64(t)); c != 0 {
		return c, true
	}
	return cmpOrdered(0, f-t), true
}

// arith applies + - * / % to two numbers. Two ints give an int, checked
// for overflow; otherwise the result is a float64.
func arith(op tokKind, a, b num) (any, error) {
	if a.isFloat || b.isFloat {
		x, y := a.float(), b.float()
		switch op {
		case tPlus:
			return x + y, nil
		case tMinus:
			return x - y, nil
		case tStar:
			return x * y, nil
		case tSlash:
			return x / y, nil
		}
		return nil, rtErr("%% needs two integers, got %s and %s", describe(a.value()), describe(b.value()))
	}
	x, y := a.i, b.i
	var r int64
	overflow := false
	switch op {
	case tPlus:
		r = x + y
		overflow = (x > 0 && y > 0 && r < 0) || (x < 0 && y < 0 && r >= 0)
	case tMinus:
		r = x - y
		overflow = (y > 0 && r > x) || (y < 0 && r < x)
	case tStar:
		if x != 0 && y != 0 {
			r = x * y
			overflow = r/y != x || (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64)
		}
	case tSlash, tPercent:
		if y == 0 {
			return nil, rtErr("division by zero")
		}
		if x == math.MinInt64 && y == -1 {
			overflow = true
		} else if op == tSlash {
			r = x / y
		} else {
			r = x % y
		}
	}
	if overflow {
		return nil, rtErr("integer overflow in %d %s %d", x, op, y)
	}
	return r, nil
}

// mapGet looks key up in v. isMap is false when v is not a map. A
// multi-valued map gives its first value; an http.Header is looked up by
// the canonical form of the key, as Header.Get does.
func mapGet(v any, key string) (val any, found, isMap bool) {
	switch m := v.(type) {
	case map[string]any:
		val, found = m[key]
		return val, found, true
	case map[string]string:
		s, ok := m[key]
		return s, ok, true
	case http.Header:
		vs, ok := m[key]
		if !ok {
			vs, ok = m[textproto.CanonicalMIMEHeaderKey(key)]
		}
		return first(vs), ok, true
	case map[string][]string:
		vs, ok := m[key]
		return first(vs), ok, true
	case url.Values:
		vs, ok := m[key]
		return first(vs), ok, true
	}
	return nil, false, false
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// mapLen returns the number of keys of v, if it is a map.
func mapLen(v any) (int, bool) {
	switch m := v.(type) {
	case map[string]any:
		return len(m), true
	case map[string]string:
		return len(m), true
	case http.Header:
		return len(m), true
	case map[string][]string:
		return len(m), true
	case url.Values:
		return len(m), true
	}
	return 0, false
}

// mapKeys returns the keys of the map v, sorted so that loops over a map
// are deterministic.
func mapKeys(v any) []string {
	n, _ := mapLen(v)
	keys := make([]string, 0, n)
	switch m := v.(type) {
	case map[string]any:
		for k := range m {
			keys = append(keys, k)
		}
	case map[string]string:
		for k := range m {
			keys = append(keys, k)
		}
	case http.Header:
		for k := range m {
			keys = append(keys, k)
		}
	case map[string][]string:
		for k := range m {
			keys = append(keys, k)
		}
	case url.Values:
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// listLen returns the length of v, if it is a list.
func listLen(v any) (int, bool) {
	switch l := v.(type) {
	case []any:
		return len(l), true
	case []string:
		return len(l), true
	}
	return 0, false
}

// listAt returns element i of the list v; i is in range.
func listAt(v any, i int) any {
	switch l := v.(type) {
	case []any:
		return l[i]
	case []string:
		return l[i]
	}
	return nil
}

// typeName names the type of v as CEL does: null, bool, int, double,
// string, list or map; a value of any other Go type is named by that type.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	}
	if n, ok := toNum(v); ok {
		if n.isFloat {
			return "double"
		}
		return "int"
	}
	if _, ok := listLen(v); ok {
		return "list"
	}
	if _, ok := mapLen(v); ok {
		return "map"
	}
	return fmt.Sprintf("Go type %T", v)
}

// describe names v for an error message: its type and, for a scalar, its
// value.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + strconv.Quote(truncate(x, 20))
	case bool:
		return "bool " + strconv.FormatBool(x)
	}
	if n, ok := toNum(v); ok {
		return typeName(v) + " " + formatNum(n)
	}
	return typeName(v)
}

// formatNum writes a number as string() converts it.
func formatNum(n num) string {
	if n.isFloat {
		return strconv.FormatFloat(n.f, 'g', -1, 64)
	}
	return strconv.FormatInt(n.i, 10)
}

// maxEqualDepth bounds the recursion of equal on values that are nested
// deeper than any JSON postbox accepts.
const maxEqualDepth = 1000

// equal reports whether a and b are equal as CEL's == says: numbers by
// value whatever their representation, lists and maps element by element,
// and values of different types are not equal.
func equal(s *state, a, b any, depth int) (bool, error) {
	if depth > maxEqualDepth {
		return false, limitErr("values are nested more than %d levels deep", maxEqualDepth)
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return false, nil
		}
		if err := s.charge(len(x) / 64); err != nil {
			return false, err
		}
		return x == y, nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y, nil
	case nil:
		return b == nil, nil
	}
	if x, ok := toNum(a); ok {
		y, ok := toNum(b)
		if !ok {
			return false, nil
		}
		c, ok := cmpNum(x, y)
		return ok && c == 0, nil
	}
	if n, ok := listLen(a); ok {
		m, ok := listLen(b)
		if !ok || n != m {
			return false, nil
		}
		if err := s.charge(n); err != nil {
			return false, err
		}
		for i := range n {
			if eq, err := equal(s, listAt(a, i), listAt(b, i), depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	if n, ok := mapLen(a); ok {
		m, ok := mapLen(b)
		if !ok || n != m {
			return false, nil
		}
		if err := s.charge(2 * n); err != nil {
			return false, err
		}
		keys := mapKeys(a)
		for _, k := range keys {
			av, _, _ := mapGet(a, k)
			bv, found, _ := mapGet(b, k)
			if !found {
				return false, nil
			}
			if eq, err := equal(s, av, bv, depth+1); err != nil || !eq {
				return false, err
			}
		}
		return true, nil
	}
	return false, rtErr("cannot compare a value of %s", typeName(a))
}

// compare orders a and b: numbers, strings and bools. ok is false when a
// NaN makes them unordered.
func compare(s *state, a, b any) (c int, ok bool, err error) {
	if x, isNum := toNum(a); isNum {
		if y, isNum := toNum(b); isNum {
			c, ok := cmpNum(x, y)
			return c, ok, nil
		}
	}
	switch x := a.(type) {
	case string:
		if y, isStr := b.(string); isStr {
			return strings.Compare(x, y), true, s.charge(min(len(x), len(y)) / 64)
		}
	case bool:
		if y, isBool := b.(bool); isBool {
			return cmpOrdered(b2i(x), b2i(y)), true, nil
		}
	}
	return 0, false, rtErr("cannot compare %s with %s", describe(a), describe(b))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

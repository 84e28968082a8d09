package rule

import (
	"fmt"
	"github.com/postbox/postbox/internal/spell"
	"math"
	"slices"
)

// evalFn evaluates one node of a compiled expression.
type evalFn func(s *state) (any, error)

// typ is what the compiler knows of a value's type: tyDyn when it is only
// known at evaluation (anything read from the variables).
type typ uint8

const (
	tyDyn typ = iota
	tyBool
	tyInt
	tyDouble
	tyString
	tyNull
	tyList
	tyMap
)

func (t typ) String() string {
	return [...]string{"value of any type", "bool", "int", "double", "string", "null", "list", "map"}[t]
}

func (t typ) isNum() bool { return t == tyInt || t == tyDouble }

// is reports whether a value of type t may be one of the types ts.
func (t typ) is(ts ...typ) bool { return t == tyDyn || slices.Contains(ts, t) }

// compiler turns a syntax tree into closures, checking what can be checked
// before evaluation.
type compiler struct {
	src  string
	vars []string
	// locals are the loop variables in scope, innermost last; a loop
	// variable lives in state.locals at its index here.
	locals    []string
	maxLocals int
}

// text returns the source of n, shortened for a message.
func (c *compiler) text(n *node) string {
	return truncate(c.src[n.start:n.end], 60)
}

func typeOfLit(v any) typ {
	switch v.(type) {
	case bool:
		return tyBool
	case int64:
		return tyInt
	case float64:
		return tyDouble
	case string:
		return tyString
	}
	return tyNull
}

func (c *compiler) compile(n *node) (evalFn, typ, *Error) {
	switch n.kind {
	case nLit:
		v := n.lit
		return func(*state) (any, error) { return v, nil }, typeOfLit(v), nil
	case nIdent:
		return c.ident(n)
	case nList:
		return c.list(n)
	case nSelect:
		return c.selectField(n)
	case nIndex:
		return c.index(n)
	case nCall:
		return c.call(n)
	case nUnary:
		return c.unary(n)
	case nBinary:
		return c.binary(n)
	case nAnd, nOr:
		return c.logical(n)
	case nCond:
		return c.cond(n)
	}
	return nil, tyDyn, errAt(n.off, "internal error: unknown node")
}

func (c *compiler) ident(n *node) (evalFn, typ, *Error) {
	name := n.name
	// The innermost loop variable of that name shadows the others and
	// the variables.
	for i := len(c.locals) - 1; i >= 0; i-- {
		if c.locals[i] == name {
			return func(s *state) (any, error) { return s.locals[i], nil }, tyDyn, nil
		}
	}
	if !slices.Contains(c.vars, name) {
		msg := fmt.Sprintf("unknown variable %q", name)
		if s := suggest(name, append(slices.Clone(c.vars), c.locals...)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, tyDyn, errAt(n.off, "%s", msg)
	}
	off := n.off
	return func(s *state) (any, error) {
		v, ok := s.env[name]
		if !ok {
			return nil, at(off, rtErr("variable %q has no value", name))
		}
		return v, nil
	}, tyDyn, nil
}

func (c *compiler) list(n *node) (evalFn, typ, *Error) {
	elems := make([]evalFn, len(n.args))
	for i, a := range n.args {
		fn, _, err := c.compile(a)
		if err != nil {
			return nil, tyDyn, err
		}
		elems[i] = fn
	}
	off := n.off
	return func(s *state) (any, error) {
		if err := s.charge(len(elems)); err != nil {
			return nil, at(off, err)
		}
		l := make([]any, len(elems))
		for i, fn := range elems {
			v, err := fn(s)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	}, tyList, nil
}

func (c *compiler) selectField(n *node) (evalFn, typ, *Error) {
	x, t, err := c.compile(n.args[0])
	if err != nil {
		return nil, tyDyn, err
	}
	if !t.is(tyMap) {
		return nil, tyDyn, errAt(n.off, "cannot select field %q: %s is a%s %s, not a map",
			n.name, c.text(n.args[0]), article(t.String()), t)
	}
	name, off, path, operand := n.name, n.off, c.text(n), c.text(n.args[0])
	return func(s *state) (any, error) {
		v, err := x(s)
		if err != nil {
			return nil, err
		}
		val, found, isMap := mapGet(v, name)
		switch {
		case !isMap:
			return nil, at(off, rtErr("cannot select field %q: %s is %s, not a map", name, operand, describe(v)))
		case !found:
			e := rtErr("no such key: %s", path)
			e.Err = ErrNoSuchKey
			return nil, at(off, e)
		}
		return val, nil
	}, tyDyn, nil
}

func (c *compiler) index(n *node) (evalFn, typ, *Error) {
	x, xt, err := c.compile(n.args[0])
	if err != nil {
		return nil, tyDyn, err
	}
	k, kt, err := c.compile(n.args[1])
	if err != nil {
		return nil, tyDyn, err
	}
	switch {
	case !xt.is(tyList, tyMap):
		return nil, tyDyn, errAt(n.off, "cannot index a%s %s", article(xt.String()), xt)
	case xt == tyList && !kt.is(tyInt):
		return nil, tyDyn, errAt(n.args[1].off, "a list index must be an int, not a%s %s", article(kt.String()), kt)
	case !kt.is(tyInt, tyDouble, tyString):
		return nil, tyDyn, errAt(n.args[1].off, "an index must be an int or a string, not a%s %s", article(kt.String()), kt)
	}
	off, path, operand := n.off, c.text(n), c.text(n.args[0])
	return func(s *state) (any, error) {
		v, err := x(s)
		if err != nil {
			return nil, err
		}
		key, err := k(s)
		if err != nil {
			return nil, err
		}
		if l, ok := listLen(v); ok {
			kn, ok := toNum(key)
			if !ok || kn.isFloat && (kn.f != math.Trunc(kn.f) || math.Abs(kn.f) >= 1<<63) {
				return nil, at(off, rtErr("a list index must be an int, got %s (%s)", describe(key), path))
			}
			i := kn.i
			if kn.isFloat {
				i = int64(kn.f)
			}
			if i < 0 || i >= int64(l) {
				return nil, at(off, rtErr("index %d is out of range: %s has %d elements", i, operand, l))
			}
			return listAt(v, int(i)), nil
		}
		ks, isStr := key.(string)
		val, found, isMap := mapGet(v, ks)
		switch {
		case !isMap:
			return nil, at(off, rtErr("cannot index %s (%s)", describe(v), operand))
		case !isStr:
			return nil, at(off, rtErr("a map key must be a string, got %s (%s)", describe(key), path))
		case !found:
			e := rtErr("no such key: %s", path)
			e.Err = ErrNoSuchKey
			return nil, at(off, e)
		}
		return val, nil
	}, tyDyn, nil
}

func (c *compiler) unary(n *node) (evalFn, typ, *Error) {
	x, t, err := c.compile(n.args[0])
	if err != nil {
		return nil, tyDyn, err
	}
	off := n.off
	if n.op == tNot {
		if !t.is(tyBool) {
			return nil, tyDyn, errAt(off, "! needs a bool, not a%s %s", article(t.String()), t)
		}
		return func(s *state) (any, error) {
			v, err := x(s)
			if err != nil {
				return nil, err
			}
			b, ok := v.(bool)
			if !ok {
				return nil, at(off, rtErr("! needs a bool, got %s", describe(v)))
			}
			return !b, nil
		}, tyBool, nil
	}
	if !t.is(tyInt, tyDouble) {
		return nil, tyDyn, errAt(off, "- needs a number, not a%s %s", article(t.String()), t)
	}
	return func(s *state) (any, error) {
		v, err := x(s)
		if err != nil {
			return nil, err
		}
		num, ok := toNum(v)
		switch {
		case !ok:
			return nil, at(off, rtErr("- needs a number, got %s", describe(v)))
		case num.isFloat:
			return -num.f, nil
		case num.i == -num.i && num.i != 0:
			return nil, at(off, rtErr("integer overflow in -(%d)", num.i))
		}
		return -num.i, nil
	}, t, nil
}

func (c *compiler) logical(n *node) (evalFn, typ, *Error) {
	fns := make([]evalFn, len(n.args))
	for i, a := range n.args {
		fn, t, err := c.compile(a)
		if err != nil {
			return nil, tyDyn, err
		}
		if !t.is(tyBool) {
			return nil, tyDyn, errAt(n.off, "%s needs bools, but %s is a%s %s", n.op, c.text(a), article(t.String()), t)
		}
		fns[i] = fn
	}
	// && stops at the first false and || at the first true. As in CEL, an
	// error in one operand is absorbed when another decides the result:
	// false && error is false, error || true is true. Limits are not
	// absorbed.
	decisive := n.op == tOr
	op, off := n.op, n.off
	return func(s *state) (any, error) {
		var first error
		for i, fn := range fns {
			v, err := fn(s)
			if err == nil {
				b, ok := v.(bool)
				if ok && b == decisive {
					return decisive, nil
				}
				if !ok {
					err = at(off, rtErr("%s needs bools, but operand %d is %s", op, i+1, describe(v)))
				}
			}
			if err != nil {
				if isLimit(err) {
					return nil, err
				}
				if first == nil {
					first = err
				}
				if err := s.charge(errorCost); err != nil {
					return nil, at(off, err)
				}
			}
		}
		if first != nil {
			return nil, first
		}
		return !decisive, nil
	}, tyBool, nil
}

func (c *compiler) cond(n *node) (evalFn, typ, *Error) {
	var fns [3]evalFn
	var ts [3]typ
	for i, a := range n.args {
		fn, t, err := c.compile(a)
		if err != nil {
			return nil, tyDyn, err
		}
		fns[i], ts[i] = fn, t
	}
	if !ts[0].is(tyBool) {
		return nil, tyDyn, errAt(n.off, "the condition before ? must be a bool, not a%s %s", article(ts[0].String()), ts[0])
	}
	t := ts[1]
	if ts[1] != ts[2] {
		t = tyDyn
	}
	off := n.off
	return func(s *state) (any, error) {
		v, err := fns[0](s)
		if err != nil {
			return nil, err
		}
		b, ok := v.(bool)
		if !ok {
			return nil, at(off, rtErr("the condition before ? must be a bool, got %s", describe(v)))
		}
		if b {
			return fns[1](s)
		}
		return fns[2](s)
	}, t, nil
}

// suggest returns the candidate closest to name, if one is close enough to
// be a likely typo.
func suggest(name string, candidates []string) string {
	best, bestD := "", len(name)/3+1
	if bestD > 3 {
		bestD = 3
	}
	for _, c := range candidates {
		if d := spell.Distance(name, c); d <= bestD && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

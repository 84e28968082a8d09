package rule

// binary compiles the operators with two operands, other than && and ||.
func (c *compiler) binary(n *node) (evalFn, typ, *Error) {
	x, xt, err := c.compile(n.args[0])
	if err != nil {
		return nil, tyDyn, err
	}
	y, yt, err := c.compile(n.args[1])
	if err != nil {
		return nil, tyDyn, err
	}
	op, off := n.op, n.off
	var apply func(s *state, a, b any) (any, error)
	var t typ
	switch op {
	case tPlus:
		t, err = addType(xt, yt, off)
		apply = add
	case tMinus, tStar, tSlash, tPercent:
		t, err = arithType(op, xt, yt, off)
		apply = func(s *state, a, b any) (any, error) {
			an, aok := toNum(a)
			bn, bok := toNum(b)
			if !aok || !bok {
				return nil, rtErr("%s needs two numbers, got %s and %s", op, describe(a), describe(b))
			}
			return arith(op, an, bn)
		}
	case tEq, tNe:
		t = tyBool
		apply = func(s *state, a, b any) (any, error) {
			eq, err := equal(s, a, b, 0)
			return eq == (op == tEq), err
		}
	case tLt, tLe, tGt, tGe:
		t, err = tyBool, compareType(op, xt, yt, off)
		apply = func(s *state, a, b any) (any, error) {
			c, ok, err := compare(s, a, b)
			if err != nil || !ok {
				return false, err
			}
			switch op {
			case tLt:
				return c < 0, nil
			case tLe:
				return c <= 0, nil
			case tGt:
				return c > 0, nil
			}
			return c >= 0, nil
		}
	case tIn:
		t = tyBool
		if !yt.is(tyList, tyMap) {
			err = errAt(off, "\"in\" needs a list or a map on its right, not a%s %s%s", article(yt.String()), yt, containsHint(yt))
		}
		apply = in
	}
	if err != nil {
		return nil, tyDyn, err
	}
	return func(s *state) (any, error) {
		a, err := x(s)
		if err != nil {
			return nil, err
		}
		b, err := y(s)
		if err != nil {
			return nil, err
		}
		v, err := apply(s, a, b)
		if err != nil {
			return nil, at(off, err)
		}
		return v, nil
	}, t, nil
}

func containsHint(t typ) string {
	if t == tyString {
		return " (for a substring, use s.contains(sub))"
	}
	return ""
}

// addType is the type of x + y, or an error if it cannot be one.
func addType(xt, yt typ, off int) (typ, *Error) {
	for _, t := range []typ{xt, yt} {
		if !t.is(tyInt, tyDouble, tyString, tyList) {
			return tyDyn, errAt(off, "+ needs numbers, strings or lists, not a%s %s", article(t.String()), t)
		}
	}
	switch {
	case xt == tyDyn && yt == tyDyn:
		return tyDyn, nil
	case xt.is(tyInt, tyDouble) && yt.is(tyInt, tyDouble):
		return numType(xt, yt), nil
	case xt.is(yt):
		return yt, nil
	case yt.is(xt):
		return xt, nil
	}
	return tyDyn, errAt(off, "+ cannot add a%s %s and a%s %s", article(xt.String()), xt, article(yt.String()), yt)
}

// arithType is the type of x op y for - * / %.
func arithType(op tokKind, xt, yt typ, off int) (typ, *Error) {
	for _, t := range []typ{xt, yt} {
		if !t.is(tyInt, tyDouble) {
			return tyDyn, errAt(off, "%s needs numbers, not a%s %s", op, article(t.String()), t)
		}
		if op == tPercent && t == tyDouble {
			return tyDyn, errAt(off, "%% needs integers, not a double")
		}
	}
	return numType(xt, yt), nil
}

// numType is the type of arithmetic on numbers: int on two ints, double
// when a double is involved, else unknown.
func numType(xt, yt typ) typ {
	switch {
	case xt == tyInt && yt == tyInt:
		return tyInt
	case xt == tyDouble && yt.isNum() || yt == tyDouble && xt.isNum():
		return tyDouble
	}
	return tyDyn
}

// compareType checks the operands of < <= > >=: numbers, strings or bools,
// of one kind.
func compareType(op tokKind, xt, yt typ, off int) *Error {
	for _, t := range []typ{xt, yt} {
		if !t.is(tyInt, tyDouble, tyString, tyBool) {
			return errAt(off, "%s compares numbers, strings or bools, not a%s %s", op, article(t.String()), t)
		}
	}
	kind := func(t typ) typ {
		if t == tyDouble {
			return tyInt
		}
		return t
	}
	if xt != tyDyn && yt != tyDyn && kind(xt) != kind(yt) {
		return errAt(off, "%s cannot compare a%s %s with a%s %s", op, article(xt.String()), xt, article(yt.String()), yt)
	}
	return nil
}

// add is +: numbers add, strings and lists concatenate up to MaxConcat.
func add(s *state, a, b any) (any, error) {
	if an, ok := toNum(a); ok {
		if bn, ok := toNum(b); ok {
			return arith(tPlus, an, bn)
		}
	}
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			n := len(as) + len(bs)
			if n > MaxConcat {
				return nil, limitErr("+ would make a string of %d bytes; the limit is %d", n, MaxConcat)
			}
			if err := s.charge(n / 16); err != nil {
				return nil, err
			}
			return as + bs, nil
		}
	}
	if an, ok := listLen(a); ok {
		if bn, ok := listLen(b); ok {
			n := an + bn
			if n > MaxConcat {
				return nil, limitErr("+ would make a list of %d elements; the limit is %d", n, MaxConcat)
			}
			if err := s.charge(n); err != nil {
				return nil, err
			}
			l := make([]any, 0, n)
			for i := range an {
				l = append(l, listAt(a, i))
			}
			for i := range bn {
				l = append(l, listAt(b, i))
			}
			return l, nil
		}
	}
	return nil, rtErr("+ needs two numbers, two strings or two lists, got %s and %s", describe(a), describe(b))
}

// in is x in y: membership in a list (by ==), or a key of a map.
func in(s *state, x, y any) (any, error) {
	if n, ok := listLen(y); ok {
		for i := range n {
			if err := s.charge(1); err != nil {
				return nil, err
			}
			eq, err := equal(s, x, listAt(y, i), 0)
			if err != nil || eq {
				return eq, err
			}
		}
		return false, nil
	}
	key, isStr := x.(string)
	_, found, isMap := mapGet(y, key)
	if !isMap {
		hint := ""
		if _, ok := y.(string); ok {
			hint = containsHint(tyString)
		}
		return nil, rtErr("\"in\" needs a list or a map on its right, got %s%s", describe(y), hint)
	}
	return isStr && found, nil
}

package rule

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// function describes one function or macro: how it may be called, and
// how it compiles.
type function struct {
	global bool // callable as name(args...)
	method bool // callable as x.name(args...)
	nargs  int  // arguments besides the receiver of a method call
	// result is the type of the result.
	result typ
	// operand is the types the argument (global) or receiver (method)
	// may have.
	operand []typ
}

// functions returns the functions and macros, by name.
func functions(name string) (function, bool) {
	str := []typ{tyString}
	switch name {
	case "has":
		return function{global: true, nargs: 1, result: tyBool}, true
	case "size":
		return function{global: true, method: true, nargs: 1, result: tyInt, operand: []typ{tyString, tyList, tyMap}}, true
	case "startsWith", "endsWith", "contains", "matches":
		return function{method: true, nargs: 1, result: tyBool, operand: str}, true
	case "lowerAscii", "upperAscii":
		return function{method: true, result: tyString, operand: str}, true
	case "int":
		return function{global: true, nargs: 1, result: tyInt, operand: []typ{tyInt, tyDouble, tyString}}, true
	case "double":
		return function{global: true, nargs: 1, result: tyDouble, operand: []typ{tyInt, tyDouble, tyString}}, true
	case "string":
		return function{global: true, nargs: 1, result: tyString, operand: []typ{tyInt, tyDouble, tyString, tyBool}}, true
	case "exists", "all", "exists_one":
		return function{method: true, nargs: 2, result: tyBool, operand: []typ{tyList, tyMap}}, true
	case "fromJSON":
		return function{global: true, nargs: 1, result: tyDyn, operand: str}, true
	}
	return function{}, false
}

// functionNames lists the names functions knows, for suggestions.
func functionNames() []string {
	return strings.Fields("has size startsWith endsWith contains matches lowerAscii upperAscii int double string exists all exists_one fromJSON")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func (c *compiler) call(n *node) (evalFn, typ, *Error) {
	f, ok := functions(n.name)
	method := n.target != nil
	if !ok {
		kind := "function"
		if method {
			kind = "method"
		}
		msg := fmt.Sprintf("unknown %s %q", kind, n.name)
		if s := suggest(n.name, functionNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return nil, tyDyn, errAt(n.off, "%s", msg)
	}
	nargs := f.nargs
	switch {
	case method && !f.method:
		return nil, tyDyn, errAt(n.off, "%s is not a method: write %s(x)", n.name, n.name)
	case !method && !f.global:
		return nil, tyDyn, errAt(n.off, "%s is a method: write x.%s(...)", n.name, n.name)
	case method && f.global:
		nargs-- // size: x.size() or size(x)
	}
	if len(n.args) != nargs {
		return nil, tyDyn, errAt(n.off, "%s takes %s, got %d", n.name, plural(nargs, "argument"), len(n.args))
	}
	switch n.name {
	case "has":
		return c.has(n)
	case "exists", "all", "exists_one":
		return c.loop(n)
	}
	operand := n.target
	args := n.args
	if operand == nil {
		operand, args = n.args[0], n.args[1:]
	}
	x, xt, err := c.compile(operand)
	if err != nil {
		return nil, tyDyn, err
	}
	if !xt.is(f.operand...) {
		return nil, tyDyn, errAt(n.off, "%s cannot take a%s %s", n.name, article(xt.String()), xt)
	}
	var arg evalFn
	if len(args) == 1 {
		fn, t, err := c.compile(args[0])
		if err != nil {
			return nil, tyDyn, err
		}
		if !t.is(tyString) {
			return nil, tyDyn, errAt(args[0].off, "the argument of %s must be a string, not a%s %s", n.name, article(t.String()), t)
		}
		arg = fn
	}
	var apply func(s *state, x, arg any) (any, error)
	switch n.name {
	case "size":
		apply = size
	case "startsWith":
		apply = stringTest(n.name, strings.HasPrefix)
	case "endsWith":
		apply = stringTest(n.name, strings.HasSuffix)
	case "contains":
		apply = stringTest(n.name, strings.Contains)
	case "matches":
		if args[0].kind == nLit {
			re, err := compileRegexp(args[0].lit.(string))
			if err != nil {
				return nil, tyDyn, errAt(args[0].off, "%s", err.Msg)
			}
			arg = func(*state) (any, error) { return re, nil }
		}
		apply = matches
	case "lowerAscii", "upperAscii":
		apply = changeCase(n.name)
	case "int":
		apply = toInt
	case "double":
		apply = toDouble
	case "string":
		apply = toString
	case "fromJSON":
		apply = fromJSON
	}
	off := n.off
	return func(s *state) (any, error) {
		v, err := x(s)
		if err != nil {
			return nil, err
		}
		var a any
		if arg != nil {
			if a, err = arg(s); err != nil {
				return nil, err
			}
		}
		r, err := apply(s, v, a)
		if err != nil {
			return nil, at(off, err)
		}
		return r, nil
	}, f.result, nil
}

// has compiles has(x.f): whether the map x has the key f.
func (c *compiler) has(n *node) (evalFn, typ, *Error) {
	sel := n.args[0]
	if sel.kind != nSelect {
		return nil, tyDyn, errAt(sel.off, "has() needs a field selection, such as has(payload.field); for a key that is not a name, write \"key\" in map")
	}
	x, t, err := c.compile(sel.args[0])
	if err != nil {
		return nil, tyDyn, err
	}
	if !t.is(tyMap) {
		return nil, tyDyn, errAt(sel.off, "has() cannot test a field of a%s %s", article(t.String()), t)
	}
	name, off, operand := sel.name, n.off, c.text(sel.args[0])
	return func(s *state) (any, error) {
		v, err := x(s)
		if err != nil {
			return nil, err
		}
		_, found, isMap := mapGet(v, name)
		if !isMap {
			return nil, at(off, rtErr("has() cannot test field %q: %s is %s, not a map", name, operand, describe(v)))
		}
		return found, nil
	}, tyBool, nil
}

// loop compiles the macros x.exists(v, p), x.all(v, p) and
// x.exists_one(v, p), over the elements of a list or the keys of a map.
func (c *compiler) loop(n *node) (evalFn, typ, *Error) {
	name := n.name
	v := n.args[0]
	if v.kind != nIdent {
		return nil, tyDyn, errAt(v.off, "the first argument of %s must be a variable name", name)
	}
	x, xt, err := c.compile(n.target)
	if err != nil {
		return nil, tyDyn, err
	}
	if !xt.is(tyList, tyMap) {
		return nil, tyDyn, errAt(n.off, "%s needs a list or a map, not a%s %s", name, article(xt.String()), xt)
	}
	slot := len(c.locals)
	c.locals = append(c.locals, v.name)
	c.maxLocals = max(c.maxLocals, len(c.locals))
	pred, pt, err := c.compile(n.args[1])
	c.locals = c.locals[:slot]
	if err != nil {
		return nil, tyDyn, err
	}
	if !pt.is(tyBool) {
		return nil, tyDyn, errAt(n.args[1].off, "the condition of %s must be a bool, not a%s %s", name, article(pt.String()), pt)
	}
	// Each step costs as much as the condition has nodes.
	stepCost := countNodes(n.args[1])
	off := n.off
	return func(s *state) (any, error) {
		coll, err := x(s)
		if err != nil {
			return nil, err
		}
		var keys []string
		count, isList := listLen(coll)
		if !isList {
			n, isMap := mapLen(coll)
			if !isMap {
				return nil, at(off, rtErr("%s needs a list or a map, got %s", name, describe(coll)))
			}
			// Sorting the keys makes the loop, and so its errors,
			// deterministic.
			if err := s.charge(2 * n); err != nil {
				return nil, at(off, err)
			}
			keys = mapKeys(coll)
			count = len(keys)
		}
		var first error
		matched := 0
		for i := range count {
			s.iters++
			if s.iters > MaxIterations {
				return nil, at(off, limitErr("%s: loops visit more than %d elements", name, MaxIterations))
			}
			if err := s.charge(stepCost); err != nil {
				return nil, at(off, err)
			}
			if isList {
				s.locals[slot] = listAt(coll, i)
			} else {
				s.locals[slot] = keys[i]
			}
			r, err := pred(s)
			if err == nil {
				b, ok := r.(bool)
				switch {
				case !ok:
					err = at(off, rtErr("the condition of %s must be a bool, got %s", name, describe(r)))
				case b && name == "exists":
					return true, nil
				case !b && name == "all":
					return false, nil
				case b:
					matched++
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
		// As in CEL, an error is absorbed only by a result that decides
		// the loop: one true for exists, one false for all.
		if first != nil {
			return nil, first
		}
		switch name {
		case "exists":
			return false, nil
		case "all":
			return true, nil
		}
		return matched == 1, nil
	}, tyBool, nil
}

func countNodes(n *node) int {
	count := 1
	if n.target != nil {
		count += countNodes(n.target)
	}
	for _, a := range n.args {
		count += countNodes(a)
	}
	return count
}

func size(s *state, x, _ any) (any, error) {
	if str, ok := x.(string); ok {
		if err := s.charge(len(str) / 64); err != nil {
			return nil, err
		}
		return int64(utf8.RuneCountInString(str)), nil
	}
	if n, ok := listLen(x); ok {
		return int64(n), nil
	}
	if n, ok := mapLen(x); ok {
		return int64(n), nil
	}
	return nil, rtErr("size needs a string, a list or a map, got %s", describe(x))
}

// stringTest makes startsWith, endsWith and contains.
func stringTest(name string, test func(s, sub string) bool) func(*state, any, any) (any, error) {
	return func(s *state, x, arg any) (any, error) {
		str, ok := x.(string)
		if !ok {
			return nil, rtErr("%s needs a string, got %s", name, describe(x))
		}
		sub, ok := arg.(string)
		if !ok {
			return nil, rtErr("the argument of %s must be a string, got %s", name, describe(arg))
		}
		if err := s.charge(len(str) / 64); err != nil {
			return nil, err
		}
		return test(str, sub), nil
	}
}

// maxPattern is the longest regular expression matches compiles during
// evaluation, when the pattern is not a literal.
const maxPattern = 1024

// maxPatterns is how many patterns from the data one evaluation remembers.
const maxPatterns = 16

// pattern is a compiled regular expression and the size of its program,
// which matching costs in proportion to.
type pattern struct {
	re   *regexp.Regexp
	size int
}

func compileRegexp(pat string) (*pattern, *Error) {
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, rtErr("invalid regular expression: %v", err)
	}
	// regexp does not say how large its program is; compile it again
	// the same way to find out.
	size := 1
	if sre, err := syntax.Parse(pat, syntax.Perl); err == nil {
		if prog, err := syntax.Compile(sre.Simplify()); err == nil {
			size = len(prog.Inst)
		}
	}
	return &pattern{re: re, size: size}, nil
}

// compileRegexp compiles a pattern that comes from the data, at a cost
// that bounds the memory compiling takes, and remembers it for the rest of
// the evaluation: a loop often matches against the same pattern.
func (s *state) compileRegexp(pat string) (*pattern, *Error) {
	if len(pat) > maxPattern {
		return nil, limitErr("the regular expression is %d bytes long; the limit is %d", len(pat), maxPattern)
	}
	if err := s.charge(100 + 32*len(pat)); err != nil {
		return nil, err.(*Error)
	}
	p, err := compileRegexp(pat)
	if err != nil {
		return nil, err
	}
	if s.patterns == nil {
		s.patterns = make(map[string]*pattern)
	}
	if len(s.patterns) < maxPatterns {
		s.patterns[pat] = p
	}
	return p, nil
}

// matches is x.matches(re). It costs the length of x times the size of
// the pattern, since Go's regexp matches in time proportional to both.
func matches(s *state, x, arg any) (any, error) {
	str, ok := x.(string)
	if !ok {
		return nil, rtErr("matches needs a string, got %s", describe(x))
	}
	p, ok := arg.(*pattern)
	if !ok {
		pat, ok := arg.(string)
		if !ok {
			return nil, rtErr("the argument of matches must be a string, got %s", describe(arg))
		}
		if p = s.patterns[pat]; p == nil {
			var err *Error
			if p, err = s.compileRegexp(pat); err != nil {
				return nil, err
			}
		}
	}
	if err := s.charge((len(str) + 1) * p.size / 16); err != nil {
		return nil, err
	}
	return p.re.MatchString(str), nil
}

// changeCase makes lowerAscii and upperAscii, which change the case of
// ASCII letters only.
func changeCase(name string) func(*state, any, any) (any, error) {
	return func(s *state, x, _ any) (any, error) {
		str, ok := x.(string)
		if !ok {
			return nil, rtErr("%s needs a string, got %s", name, describe(x))
		}
		if err := s.charge(len(str) / 16); err != nil {
			return nil, err
		}
		lo, hi, delta := byte('A'), byte('Z'), byte('a'-'A')
		if name == "upperAscii" {
			lo, hi, delta = 'a', 'z', byte(256+'A'-'a')
		}
		b := []byte(str)
		for i, c := range b {
			if lo <= c && c <= hi {
				b[i] = c + delta
			}
		}
		return string(b), nil
	}
}

func toInt(_ *state, x, _ any) (any, error) {
	if str, ok := x.(string); ok {
		i, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return nil, rtErr("int cannot convert %s", describe(x))
		}
		return i, nil
	}
	n, ok := toNum(x)
	switch {
	case !ok:
		return nil, rtErr("int cannot convert %s", describe(x))
	case !n.isFloat:
		return n.i, nil
	case math.IsNaN(n.f) || n.f >= 1<<63 || n.f <= -(1<<63):
		// CEL refuses -2^63 too, though it is in range.
		return nil, rtErr("int cannot convert %s: out of range", describe(x))
	}
	return int64(n.f), nil
}

func toDouble(_ *state, x, _ any) (any, error) {
	if str, ok := x.(string); ok {
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, rtErr("double cannot convert %s", describe(x))
		}
		return f, nil
	}
	n, ok := toNum(x)
	if !ok {
		return nil, rtErr("double cannot convert %s", describe(x))
	}
	return n.float(), nil
}

func toString(_ *state, x, _ any) (any, error) {
	switch v := x.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	if n, ok := toNum(x); ok {
		return formatNum(n), nil
	}
	return nil, rtErr("string cannot convert %s", describe(x))
}

package rule

import (
	"math"
)

// nodeKind is the kind of a syntax tree node.
type nodeKind uint8

const (
	nLit    nodeKind = iota // lit
	nIdent                  // name
	nList                   // args are the elements
	nSelect                 // args[0].name
	nIndex                  // args[0][args[1]]
	nCall                   // name(args...), or target.name(args...) when target != nil
	nUnary                  // op args[0]; op is tNot or tMinus
	nBinary                 // args[0] op args[1]
	nAnd                    // args[0] && args[1] && ...
	nOr                     // args[0] || args[1] || ...
	nCond                   // args[0] ? args[1] : args[2]
)

// node is a syntax tree node. off is the byte offset its errors point at:
// the operator, the field name, the function name or the literal. start
// and end delimit its source text, which names it in evaluation errors.
type node struct {
	kind       nodeKind
	op         tokKind
	off        int
	start, end int
	name       string
	lit        any
	target     *node
	args       []*node
}

// parser is a recursive descent parser for CEL's grammar:
//
//	expr     = or ["?" or ":" expr]
//	or       = and {"||" and}
//	and      = relation {"&&" relation}
//	relation = sum {("<" | "<=" | ">=" | ">" | "==" | "!=" | "in") sum}
//	sum      = product {("+" | "-") product}
//	product  = unary {("*" | "/" | "%") unary}
//	unary    = member | "!" {"!"} member | "-" {"-"} member
//	member   = primary {"." IDENT ["(" [args] ")"] | "[" expr "]"}
//	primary  = IDENT ["(" [args] ")"] | "(" expr ")" | "[" [args] [","] "]" | literal
type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// parse parses src into a syntax tree.
func parse(src string) (*node, *Error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err.(*Error)
	}
	p := &parser{src: src, toks: toks}
	n, perr := p.expr()
	if perr != nil {
		return nil, perr
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, errAt(t.pos, "unexpected %s after a complete expression", t.describe())
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// prevEnd is the byte offset just past the last token consumed.
func (p *parser) prevEnd() int {
	if p.i == 0 {
		return 0
	}
	t := p.toks[p.i-1]
	return t.pos + len(t.text)
}

func (p *parser) expect(k tokKind, what string) (token, *Error) {
	t := p.next()
	if t.kind != k {
		return t, errAt(t.pos, "expected %q %s, found %s", k.String(), what, t.describe())
	}
	return t, nil
}

// enter counts one level of nesting; every recursive step passes through
// it, so that the depth of the tree (and of evaluation) is bounded.
func (p *parser) enter() *Error {
	p.depth++
	if p.depth > MaxDepth {
		return errAt(p.peek().pos, "expression is nested more than %d levels deep", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expr() (*node, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	start := p.peek().pos
	c, err := p.or()
	if err != nil || p.peek().kind != tQuestion {
		return c, err
	}
	q := p.next()
	a, err := p.or()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tColon, "in a ? : conditional"); err != nil {
		return nil, err
	}
	b, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &node{kind: nCond, off: q.pos, start: start, end: p.prevEnd(), args: []*node{c, a, b}}, nil
}

// or and and build one node with all operands, so that a long chain of
// alternatives stays shallow.
func (p *parser) or() (*node, *Error) { return p.logical(tOr, nOr, p.and) }

func (p *parser) and() (*node, *Error) { return p.logical(tAnd, nAnd, p.relation) }

func (p *parser) logical(op tokKind, kind nodeKind, operand func() (*node, *Error)) (*node, *Error) {
	start := p.peek().pos
	x, err := operand()
	if err != nil || p.peek().kind != op {
		return x, err
	}
	n := &node{kind: kind, op: op, off: p.peek().pos, start: start, args: []*node{x}}
	for p.peek().kind == op {
		p.next()
		y, err := operand()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, y)
	}
	n.end = p.prevEnd()
	return n, nil
}

func (p *parser) relation() (*node, *Error) {
	return p.binary(p.sum, tLt, tLe, tGt, tGe, tEq, tNe, tIn)
}

func (p *parser) sum() (*node, *Error) { return p.binary(p.product, tPlus, tMinus) }

func (p *parser) product() (*node, *Error) { return p.binary(p.unary, tStar, tSlash, tPercent) }

// binary parses a left-associative chain of the operators ops.
func (p *parser) binary(operand func() (*node, *Error), ops ...tokKind) (*node, *Error) {
	start := p.peek().pos
	x, err := operand()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		found := false
		for _, op := range ops {
			found = found || t.kind == op
		}
		if !found {
			return x, nil
		}
		p.next()
		y, err := operand()
		if err != nil {
			return nil, err
		}
		x = &node{kind: nBinary, op: t.kind, off: t.pos, start: start, end: p.prevEnd(), args: []*node{x, y}}
	}
}

func (p *parser) unary() (*node, *Error) {
	t := p.peek()
	if t.kind != tNot && t.kind != tMinus {
		return p.member()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.next()
	// CEL repeats one unary operator but does not mix them: -!x is not
	// CEL, so it is not accepted here either.
	if k := p.peek().kind; (k == tNot || k == tMinus) && k != t.kind {
		return nil, errAt(p.peek().pos, "%q cannot follow %q; use parentheses", k.String(), t.kind.String())
	}
	if lit := p.peek(); t.kind == tMinus && lit.kind == tInt && lit.u <= 1<<63 {
		// A negative literal, so that -9223372036854775808 is in range,
		// unless a member follows: -1.size() is -(1.size()).
		if k := p.toks[p.i+1].kind; k != tDot && k != tLBrack {
			p.next()
			v := int64(-lit.u) // -(1<<63) wraps to math.MinInt64
			return &node{kind: nLit, off: t.pos, start: t.pos, end: p.prevEnd(), lit: v}, nil
		}
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &node{kind: nUnary, op: t.kind, off: t.pos, start: t.pos, end: p.prevEnd(), args: []*node{x}}, nil
}

func (p *parser) member() (*node, *Error) {
	start := p.peek().pos
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek().kind {
		case tDot:
			p.next()
			id := p.next()
			if id.kind != tIdent {
				return nil, errAt(id.pos, "expected a field or method name after \".\", found %s", id.describe())
			}
			if p.peek().kind == tLParen {
				args, err := p.args(tRParen)
				if err != nil {
					return nil, err
				}
				x = &node{kind: nCall, off: id.pos, start: start, end: p.prevEnd(), name: id.text, target: x, args: args}
				continue
			}
			x = &node{kind: nSelect, off: id.pos, start: start, end: p.prevEnd(), name: id.text, args: []*node{x}}
		case tLBrack:
			lb := p.next()
			i, err := p.expr()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(tRBrack, "to close the index"); err != nil {
				return nil, err
			}
			x = &node{kind: nIndex, off: lb.pos, start: start, end: p.prevEnd(), args: []*node{x, i}}
		default:
			return x, nil
		}
	}
}

func (p *parser) primary() (*node, *Error) {
	t := p.next()
	lit := func(v any) (*node, *Error) {
		return &node{kind: nLit, off: t.pos, start: t.pos, end: t.pos + len(t.text), lit: v}, nil
	}
	switch t.kind {
	case tInt:
		if t.u > math.MaxInt64 {
			return nil, errAt(t.pos, "integer literal %s is out of range", t.text)
		}
		return lit(int64(t.u))
	case tFloat:
		return lit(t.f)
	case tString:
		return lit(t.s)
	case tTrue:
		return lit(true)
	case tFalse:
		return lit(false)
	case tNull:
		return lit(nil)
	case tIdent:
		if isReserved(t.text) {
			return nil, errAt(t.pos, "%q is a reserved word", t.text)
		}
		if p.peek().kind == tLParen {
			args, err := p.args(tRParen)
			if err != nil {
				return nil, err
			}
			return &node{kind: nCall, off: t.pos, start: t.pos, end: p.prevEnd(), name: t.text, args: args}, nil
		}
		return &node{kind: nIdent, off: t.pos, start: t.pos, end: t.pos + len(t.text), name: t.text}, nil
	case tLParen:
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "to close the parenthesis"); err != nil {
			return nil, err
		}
		return x, nil
	case tLBrack:
		p.i-- // args starts at the bracket
		args, err := p.args(tRBrack)
		if err != nil {
			return nil, err
		}
		return &node{kind: nList, off: t.pos, start: t.pos, end: p.prevEnd(), args: args}, nil
	case tLBrace:
		return nil, errAt(t.pos, "map literals ({...}) are not supported")
	case tDot:
		return nil, errAt(t.pos, "unexpected \".\"; names cannot start with a dot")
	case tEOF:
		return nil, errAt(t.pos, "expression is incomplete")
	}
	return nil, errAt(t.pos, "unexpected %s", t.describe())
}

// args parses a parenthesized or bracketed list of expressions, starting
// at the opening token. A list literal may end with a comma, as in CEL.
func (p *parser) args(closing tokKind) ([]*node, *Error) {
	p.next()
	var args []*node
	for {
		if p.peek().kind == closing && (len(args) == 0 || closing == tRBrack) {
			p.next()
			return args, nil
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, x)
		t := p.next()
		switch t.kind {
		case closing:
			return args, nil
		case tComma:
		default:
			return nil, errAt(t.pos, "expected \",\" or %q, found %s", closing.String(), t.describe())
		}
	}
}

package webhook

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// ruleResult is a trigger rule converted: the checks that became auth:
// and the rest as a when: expression ("" when nothing is left).
type ruleResult struct {
	// sigs are the signatures of which one must match (webhook_hmac).
	sigs []*hmacAuth
	ip   []string
	when string
	// notes are comments for the generated hook.
	notes []string
}

// hmacAuth is one signature of the webhook_hmac scheme, webhook's
// payload-hmac-* match.
type hmacAuth struct {
	header, algorithm, secret string
}

// expr is a piece of a condition with its precedence, so that parentheses
// are written only where they are needed (or help a reader).
type expr struct {
	s    string
	prec int // precOr, precAnd or precAtom
}

const (
	precOr = iota
	precAnd
	precAtom
)

var (
	exprTrue  = expr{"true", precAtom}
	exprFalse = expr{"false", precAtom}
)

// ruleConverter walks one hook's trigger rule.
type ruleConverter struct {
	h   *hookDef
	out *ruleResult
	// report records a part that could not be converted.
	report func(line int, key, msg string)
}

// convertRule converts h's trigger rule. Signature and IP checks that
// must hold for the hook to run at all (the rule itself, or parts of a
// top-level and) become auth; the rest becomes the condition. A part that
// cannot be converted is reported and becomes a condition that fails
// closed, so that the hook runs less often rather than more.
func convertRule(h *hookDef, report func(line int, key, msg string)) *ruleResult {
	out := &ruleResult{}
	if h.TriggerRule == nil {
		return out
	}
	c := &ruleConverter{h: h, out: out, report: report}
	e := c.rule(h.TriggerRule, "trigger-rule", true, false)
	if e != exprTrue {
		out.when = e.s
	}
	return out
}

// rule converts r. top is true while r must hold for the hook to run (the
// root and the parts of and-rules under it); negated is true under an odd
// number of nots.
func (c *ruleConverter) rule(r *rules, key string, top, negated bool) expr {
	for _, k := range r.unknown {
		c.report(r.line, key+"."+k, "unknown rule (webhook knows and, or, not and match); taken as false, as webhook does")
	}
	// webhook looks at and, or, not and match in this order and ignores
	// the others; so does the conversion.
	switch {
	case r.And != nil:
		c.ignored(r, "and")
		var parts []expr
		decided := false
		for i := range r.And {
			// Every part is converted, so that all problems are reported.
			e := c.rule(&r.And[i], fmt.Sprintf("%s.and[%d]", key, i), top, negated)
			switch e {
			case exprTrue:
			case exprFalse:
				decided = true
			default:
				parts = append(parts, e)
			}
		}
		if decided {
			return exprFalse
		}
		return join(parts, " && ", precAnd, exprTrue)
	case r.Or != nil && top && c.out.sigs == nil && allSignatures(r.Or):
		// An or of signatures that must hold: webhook_hmac takes any of
		// them, as webhook does.
		c.ignored(r, "or")
		for i := range r.Or {
			c.ignored(&r.Or[i], "match")
			c.signature(r.Or[i].Match, fmt.Sprintf("%s.or[%d].match", key, i), true, negated, true)
		}
		if len(c.out.sigs) == 0 {
			return failClosed(negated)
		}
		return exprTrue
	case r.Or != nil:
		c.ignored(r, "or")
		var parts []expr
		decided := false
		for i := range r.Or {
			e := c.rule(&r.Or[i], fmt.Sprintf("%s.or[%d]", key, i), false, negated)
			switch e {
			case exprFalse:
			case exprTrue:
				decided = true
			default:
				parts = append(parts, e)
			}
		}
		if decided {
			return exprTrue
		}
		return join(parts, " || ", precOr, exprFalse)
	case r.Not != nil:
		c.ignored(r, "not")
		e := c.rule(r.Not, key+".not", false, !negated)
		switch e {
		case exprTrue:
			return exprFalse
		case exprFalse:
			return exprTrue
		}
		return expr{"!(" + e.s + ")", precAtom}
	case r.Match != nil:
		c.ignored(r, "match")
		return c.match(r.Match, key+".match", top, negated)
	}
	// webhook evaluates a rule with none of them as false.
	c.out.notes = append(c.out.notes, fmt.Sprintf("%s has no and, or, not or match: false, as in webhook", key))
	return exprFalse
}

// ignored notes the rule keys of r that webhook ignores because used was
// looked at first.
func (c *ruleConverter) ignored(r *rules, used string) {
	for _, k := range r.keys {
		if k != used {
			c.out.notes = append(c.out.notes, fmt.Sprintf("line %d: %s is ignored, as webhook ignores it beside %s", r.line, k, used))
		}
	}
}

// join joins parts with op, wrapping the parts that bind more loosely
// (and, for a reader, the && parts of an ||) in parentheses.
func join(parts []expr, op string, prec int, empty expr) expr {
	switch len(parts) {
	case 0:
		return empty
	case 1:
		return parts[0]
	}
	ss := make([]string, len(parts))
	for i, p := range parts {
		ss[i] = p.s
		if p.prec < prec || prec == precOr && p.prec == precAnd {
			ss[i] = "(" + p.s + ")"
		}
	}
	return expr{strings.Join(ss, op), prec}
}

// failClosed is what a part that cannot be converted stands for: false,
// or true under a not, so that it never lets a request through.
func failClosed(negated bool) expr {
	if negated {
		return exprTrue
	}
	return exprFalse
}

var matchTypes = "value, regex, payload-hmac-sha1, payload-hmac-sha256, payload-hmac-sha512, ip-whitelist"

func (c *ruleConverter) match(m *matchRule, key string, top, negated bool) expr {
	for _, k := range m.unknown {
		c.report(m.line, key+"."+k, "unknown key; ignored, as webhook ignores it")
	}
	switch m.Type {
	case "value", "regex":
		return c.compare(m, key, negated)
	case "payload-hmac-sha1", "payload-hmac-sha256", "payload-hmac-sha512",
		"payload-hash-sha1", "payload-hash-sha256", "payload-hash-sha512":
		return c.signature(m, key, top, negated, false)
	case "ip-whitelist":
		return c.ipWhitelist(m, key, top, negated)
	case "scalr-signature":
		c.report(m.line, key+".type", "scalr-signature is not converted: postbox has no Scalr scheme (an HMAC-SHA1 of the body and the Date header); the hook fails closed until you check it another way")
		return failClosed(negated)
	case "":
		c.report(m.line, key+".type", "is missing (one of "+matchTypes+"); the match fails closed")
	default:
		c.report(m.line, key+".type", fmt.Sprintf("%q is not a match type webhook knows (%s); the match fails closed", m.Type, matchTypes))
	}
	return failClosed(negated)
}

// compare converts a value or regex match. webhook compares the value's
// text: a number or a boolean in the payload matches "42" or "true", so
// such a match goes through string().
func (c *ruleConverter) compare(m *matchRule, key string, negated bool) expr {
	op, problem := jsonParams(c.h.JSONStringParameters).operand(m.Parameter)
	if problem != "" {
		c.report(m.Parameter.line, key+".parameter", problem+"; the match fails closed")
		return failClosed(negated)
	}
	var re *regexp.Regexp
	if m.Type == "regex" {
		var err error
		if re, err = regexp.Compile(m.Regex); err != nil {
			// webhook answers 500 to every request then.
			c.report(m.line, key+".regex", fmt.Sprintf("is not a valid regular expression: %v; the match fails closed", err))
			return failClosed(negated)
		}
	}
	if op.constant != nil {
		ok := *op.constant == m.Value
		if re != nil {
			ok = re.MatchString(*op.constant)
		}
		if ok {
			return exprTrue
		}
		return exprFalse
	}
	lhs := op.expr
	var s string
	if re != nil {
		if !op.text {
			lhs = "string(" + lhs + ")"
		}
		s = lhs + ".matches(" + celString(m.Regex, true) + ")"
	} else {
		if !op.text && looksScalar(m.Value) {
			lhs = "string(" + lhs + ")"
		}
		s = lhs + " == " + celString(m.Value, false)
	}
	if negated && op.guard != "" {
		return expr{op.guard + " && " + s, precAnd}
	}
	return expr{s, precAtom}
}

// looksScalar reports whether v is how webhook prints a JSON number or
// boolean, which payload fields only match through string().
func looksScalar(v string) bool {
	if v == "true" || v == "false" {
		return true
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// allSignatures reports whether every rule of rs is a signature match
// (and only that), which an or of can be checked as one auth.
func allSignatures(rs []rules) bool {
	for _, r := range rs {
		if r.Match == nil || r.And != nil || r.Or != nil || r.Not != nil || !strings.HasPrefix(r.Match.Type, "payload-h") {
			return false
		}
	}
	return len(rs) > 0
}

// signature converts a payload-hmac-* match. alt is true for one
// alternative of an or of signatures.
func (c *ruleConverter) signature(m *matchRule, key string, top, negated, alt bool) expr {
	algorithm := m.Type[strings.LastIndex(m.Type, "-")+1:]
	p := m.Parameter
	switch {
	case !top:
		c.report(m.line, key, fmt.Sprintf("%s under or/not is not converted: postbox checks signatures as auth:, which every request must pass; the part fails closed (split the hook in two, one per alternative, if you need both)", m.Type))
		return failClosed(negated)
	case p.Source != srcHeader:
		c.report(p.line, key+".parameter.source", fmt.Sprintf("a signature in %q is not converted: postbox's hmac reads it from a header; the hook fails closed", p.Source))
		return failClosed(negated)
	case m.Secret == "":
		// webhook answers 500 to every request then.
		c.report(m.line, key+".secret", "is empty; webhook refused every request, and so does the converted hook")
		return failClosed(negated)
	case len(p.SigHeaders) > 0:
		c.report(p.line, key+".parameter.headers-to-add-to-signature-payload", "is not converted: postbox's hmac signs the body (with an optional timestamp or id), not other headers; the hook fails closed")
		return failClosed(negated)
	case c.out.sigs != nil && !alt:
		c.report(m.line, key, "a second signature that must hold too is not converted: webhook_hmac passes when any one of its signatures matches; the hook fails closed")
		return failClosed(negated)
	}
	// webhook_hmac takes the signature with or without the "sha256="
	// prefix, as webhook does.
	c.out.sigs = append(c.out.sigs, &hmacAuth{header: strings.TrimSpace(p.Name), algorithm: algorithm, secret: m.Secret})
	return exprTrue
}

func (c *ruleConverter) ipWhitelist(m *matchRule, key string, top, negated bool) expr {
	var allow []string
	for _, r := range strings.Fields(m.IPRange) {
		if !validRange(r) {
			// webhook answers 500 to every request then.
			c.report(m.line, key+".ip-range", fmt.Sprintf("%q is not an IP address or CIDR range; the match fails closed", r))
			return failClosed(negated)
		}
		allow = append(allow, r)
	}
	switch {
	case len(allow) == 0:
		c.report(m.line, key+".ip-range", "is empty; webhook matched no address, and neither does the converted hook")
		return failClosed(negated)
	case !top:
		c.report(m.line, key, "ip-whitelist under or/not is not converted: postbox checks addresses as auth: (ip), which every request must pass; the part fails closed")
		return failClosed(negated)
	case c.out.ip != nil:
		c.report(m.line, key, "a second ip-whitelist is not converted: auth: has one ip list; the hook fails closed")
		return failClosed(negated)
	}
	c.out.ip = allow
	return exprTrue
}

func validRange(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

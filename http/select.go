package http

import (
	"errors"
	"mime"
	"slices"
	"strings"

	"github.com/postbox/postbox"
)

// selectHook returns the first hook of the path that takes the request:
// its method, authentication, content type and condition match. Else the
// on_unmatched hook takes it, without actions, unless authentication
// failed; else the most telling refusal is the answer.
func (p *pathHandler) selectHook(c *call) (*route, error) {
	var why refusals
	for i, rt := range p.routes {
		h := rt.h
		if !slices.Contains(rt.methods, c.r.Method) {
			continue
		}
		var err error
		if c.headerErrs != nil {
			err = c.headerErrs[i]
		}
		if err == nil {
			err = authenticate(c.w, c.r, c.body, rt.bodyAuth)
		}
		if err != nil {
			c.ev.Hook = h.ID
			why.add(h, err)
			continue
		}
		if err := p.parse(c); err != nil {
			return nil, err
		}
		if p.handshake(c, rt) {
			return nil, errAnswered
		}
		if !accepts(h.Accept, c.contentType) {
			why.add(h, postbox.Errorf(postbox.EUNSUPPORTED, "Content-Type %q is not accepted; send one of: %s", c.contentType, strings.Join(h.Accept, ", ")))
			continue
		}
		if reason := condition(c, h); reason != "" {
			why.reasons = append(why.reasons, h.ID+": "+reason)
			continue
		}
		return rt, nil
	}
	if p.unmatched != nil && !why.authFailed() {
		plain := *p.unmatched
		plain.Actions, plain.Sync, plain.Schema = nil, false, nil
		c.log.Info("no hook matched; stored without actions (on_unmatched: accept)", "hook", p.unmatched.ID, "reasons", why.reasons)
		return newRoute(&plain), nil
	}
	return nil, why.err()
}

// handshake answers a provider's handshake (Zoom's url_validation,
// Twitch's verification, Discord's PING) in place of storing it, and
// reports whether it did.
func (p *pathHandler) handshake(c *call, rt *route) bool {
	for _, a := range rt.answerers {
		if ans, ok := a.Answer(c.r, c.body); ok {
			for k, vs := range ans.Header {
				c.w.Header()[k] = vs
			}
			c.w.WriteHeader(ans.Status)
			c.w.Write(ans.Body)
			c.log.Info("answered handshake", "hook", rt.h.ID, "status", ans.Status)
			return true
		}
	}
	return false
}

// condition evaluates h's vars and condition (when:); it returns why h
// does not take the request, or "" when it does.
func condition(c *call, h *postbox.Hook) string {
	c.data.Vars = nil
	varsErr := h.EvalVars(c.data, c.env)
	if h.When == nil {
		return ""
	}
	ok, err := h.When.EvalBool(c.env)
	if err == nil && ok {
		return ""
	}
	why := "condition is false: " + h.When.String()
	if err != nil {
		why = "condition failed: " + err.Error()
	}
	if varsErr != nil {
		why += " (" + varsErr.Error() + ")"
	}
	return why
}

// refusals gathers why the hooks of a path did not take a request: the
// most telling reason (a failed authentication wins over a content type;
// else the first) and every hook's reason, for the log.
type refusals struct {
	first   error
	reasons []string
}

func (f *refusals) add(h *postbox.Hook, err error) {
	if f.first == nil || postbox.ErrorCode(err) == postbox.EUNAUTH && !f.authFailed() {
		f.first = err
	}
	f.reasons = append(f.reasons, h.ID+": "+err.Error())
}

func (f *refusals) authFailed() bool {
	return f.first != nil && postbox.ErrorCode(f.first) == postbox.EUNAUTH
}

// err is the answer to a request no hook took: the most telling refusal
// with every hook's reason as its detail, or 422 when only conditions
// failed.
func (f *refusals) err() error {
	detail := strings.Join(f.reasons, "; ")
	if f.first == nil {
		return &postbox.Error{Code: postbox.EUNPROCESSABLE, Message: "the request matches no hook's condition", Detail: detail}
	}
	var pe *postbox.Error
	if detail != "" && errors.As(f.first, &pe) {
		return &postbox.Error{Code: pe.Code, Message: pe.Message, Detail: detail}
	}
	return f.first
}

// accepts reports whether contentType is one of the accepted media types
// (type/* matches a whole type); an empty list accepts anything.
func accepts(accept []string, contentType string) bool {
	if len(accept) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	for _, a := range accept {
		if strings.EqualFold(a, mt) {
			return true
		}
		if typ, ok := strings.CutSuffix(a, "/*"); ok && strings.HasPrefix(mt, strings.ToLower(typ)+"/") {
			return true
		}
	}
	return false
}

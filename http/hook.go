package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/signature"
)

// DeliveryHeader carries the id of the stored delivery in every 2xx answer.
const DeliveryHeader = "Postbox-Delivery"

// DuplicateHeader, on the answer to a duplicate, names the first delivery.
const DuplicateHeader = "Postbox-Duplicate-Of"

var wildcard = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)

// route is one hook with what its handler needs precomputed.
type route struct {
	h             *postbox.Hook
	methods       []string           // with HEAD when GET is allowed
	headerAuth    []postbox.Verifier // signature.HeaderOnly: checked before the body is read
	bodyAuth      []postbox.Verifier // the rest, checked once it is
	secretHeaders []string
	secretQuery   []string
	identifiers   []signature.Identifier
	answerers     []signature.Answerer
}

func newRoute(h *postbox.Hook) *route {
	rt := &route{h: h, methods: slices.Clone(h.Methods)}
	if slices.Contains(rt.methods, http.MethodGet) && !slices.Contains(rt.methods, http.MethodHead) {
		rt.methods = append(rt.methods, http.MethodHead)
	}
	for _, v := range h.Auth {
		if _, ok := v.(signature.HeaderOnly); ok {
			rt.headerAuth = append(rt.headerAuth, v)
		} else {
			rt.bodyAuth = append(rt.bodyAuth, v)
		}
		if rd, ok := v.(signature.Redactor); ok {
			rt.secretHeaders = append(rt.secretHeaders, rd.SecretHeaders()...)
			rt.secretQuery = append(rt.secretQuery, rd.SecretQuery()...)
		}
		if id, ok := v.(signature.Identifier); ok {
			rt.identifiers = append(rt.identifiers, id)
		}
		if a, ok := v.(signature.Answerer); ok {
			rt.answerers = append(rt.answerers, a)
		}
	}
	return rt
}

// pathHandler serves the hooks that share one path. What every request
// needs from the hooks is worked out once, when the routing table is built.
type pathHandler struct {
	s       *Server
	id      string // the first hook's id, for requests no hook took
	routes  []*route
	allowed []string // the methods some hook takes
	allow   string   // allowed, for the Allow header
	maxBody int64    // the largest max_body of the hooks
	// Credentials are redacted with every hook's names: a request that one
	// hook authenticated may be taken by another (on_unmatched), whose
	// secrets have other names.
	secretHeaders, secretQuery []string
	wildcards                  []string      // the names of the path's wildcards
	needPayload                bool          // some hook looks into the parsed body
	needEnv                    bool          // some hook has a condition or vars
	unmatched                  *postbox.Hook // the first with on_unmatched: accept
}

// handlePath serves the hooks that share one path, in order: the first
// whose method, authentication, content type and condition (when:) match
// takes the request.
func (s *Server) handlePath(hooks []*postbox.Hook) http.Handler {
	p := &pathHandler{s: s, id: hooks[0].ID}
	for _, h := range hooks {
		rt := newRoute(h)
		p.routes = append(p.routes, rt)
		p.secretHeaders = append(p.secretHeaders, rt.secretHeaders...)
		p.secretQuery = append(p.secretQuery, rt.secretQuery...)
		for _, m := range rt.methods {
			if !slices.Contains(p.allowed, m) {
				p.allowed = append(p.allowed, m)
			}
		}
		p.maxBody = max(p.maxBody, h.MaxBody)
		p.needEnv = p.needEnv || h.When != nil || len(h.Vars) > 0
		p.needPayload = p.needPayload || h.When != nil || len(h.Vars) > 0 || h.Schema != nil || h.Dedup.Key != nil ||
			h.OrderKey != nil || h.Response.Body != nil && h.Response.Body.UsesPayload()
		if h.AcceptUnmatched && p.unmatched == nil {
			p.unmatched = h
		}
	}
	p.allow = strings.Join(p.allowed, ", ")
	for _, m := range wildcard.FindAllStringSubmatch(hooks[0].Path, -1) {
		p.wildcards = append(p.wildcards, m[1])
	}
	return p
}

// call is one request on its way through the steps, and what they found.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	ev    postbox.RequestEvent
	log   *slog.Logger

	headerErrs  []error // per route: its header-only check's failure; nil when none failed
	body        []byte
	contentType string
	received    time.Time
	// d is the delivery as the hooks' conditions and templates see it; its
	// id, hook and secrets are filled in once a hook is chosen.
	d       *postbox.Delivery
	data    *postbox.TemplateData
	env     map[string]any // what conditions and vars see, when a hook has some
	payload any
	parsed  bool
}

// errAnswered ends a request that a step answered itself (a provider's
// handshake, a HEAD probe): nothing more is written.
var errAnswered = errors.New("answered")

// ServeHTTP runs a request through the steps of the ingress, in order.
// Each step returns nil to go on, or the error that ends the request,
// which fail turns into the answer; so each refusal has one home.
func (p *pathHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := p.begin(w, r)
	if err := p.admit(c); err != nil {
		p.fail(c, err)
		return
	}
	defer p.s.inflight.Add(-1)
	if err := p.serve(c); err != nil && !errors.Is(err, errAnswered) {
		p.fail(c, err)
	}
}

func (p *pathHandler) serve(c *call) error {
	if err := p.limit(c); err != nil {
		return err
	}
	if err := p.authHeaders(c); err != nil {
		return err
	}
	if err := p.readBody(c); err != nil {
		return err
	}
	p.prepare(c)
	rt, err := p.selectHook(c)
	if err != nil {
		return err
	}
	if err := p.rules(c, rt); err != nil {
		return err
	}
	ctx, done := p.context(c, rt.h)
	defer done()
	if err := p.store(ctx, c, rt); err != nil {
		return err
	}
	return p.answer(ctx, c, rt.h)
}

// begin starts a request's event and log with the client's address.
func (p *pathHandler) begin(w http.ResponseWriter, r *http.Request) *call {
	start := p.s.now()
	r.RemoteAddr = clientAddr(r, p.s.trusted)
	c := &call{w: w, r: r, start: start, log: p.s.logger,
		ev: postbox.RequestEvent{Time: start, Hook: p.id, Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr}}
	if c.log.Enabled(r.Context(), slog.LevelInfo) {
		c.log = c.log.With("method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		if id := p.s.requestID(r); id != "" {
			c.log = c.log.With("request_id", id)
		}
	}
	return c
}

// fail answers err, and tells the log and the observer why.
func (p *pathHandler) fail(c *call, err error) {
	c.ev.Status = answerError(c.w, c.r, err, p.s.webhookAnswers)
	c.ev.Reason, c.ev.Duration = err.Error(), p.s.now().Sub(c.start)
	c.ev.Bytes, c.ev.Sample = len(c.body), c.body[:min(len(c.body), 4096)]
	c.log.Info("rejected", "hook", c.ev.Hook, "status", c.ev.Status, "reason", c.ev.Reason, "duration", c.ev.Duration)
	p.s.observer.Request(c.ev)
}

// admit is admission control: beyond the cap, answer at once rather than
// hold memory and make every client wait. Admitted, the request counts
// until ServeHTTP returns.
func (p *pathHandler) admit(c *call) error {
	n := p.s.inflight.Add(1)
	if p.s.limits.MaxInflight > 0 && n > int64(p.s.limits.MaxInflight) {
		p.s.inflight.Add(-1)
		return &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "overloaded; retry later", Detail: fmt.Sprintf("%d requests in progress", n-1)}
	}
	return nil
}

// limit refuses what no hook of the path takes, whatever the body: the
// method, and a compressed body.
func (p *pathHandler) limit(c *call) error {
	if !slices.Contains(p.allowed, c.r.Method) {
		c.w.Header().Set("Allow", p.allow)
		return &postbox.Error{Code: EMETHOD, Message: "method " + c.r.Method + " not allowed; use " + p.allow}
	}
	if enc := c.r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return postbox.Errorf(postbox.EUNSUPPORTED, "Content-Encoding %s is not supported; send the body uncompressed", enc)
	}
	return nil
}

// authHeaders runs each hook's checks that need no body (token, basic,
// gitlab, ip) before the body is read. When every hook that takes the
// method fails one, the request is refused here: a client without the
// credentials has its body neither read nor held in memory. The failures
// are kept for selectHook.
func (p *pathHandler) authHeaders(c *call) error {
	var why refusals
	passed := false
	for i, rt := range p.routes {
		if !slices.Contains(rt.methods, c.r.Method) {
			continue
		}
		if err := authenticate(c.w, c.r, nil, rt.headerAuth); err != nil {
			if c.headerErrs == nil {
				c.headerErrs = make([]error, len(p.routes))
			}
			c.headerErrs[i] = err
			c.ev.Hook = rt.h.ID
			why.add(rt.h, err)
			continue
		}
		passed = true
	}
	if passed {
		return nil
	}
	return why.err()
}

// readBody reads the body, at most the largest max_body of the path's
// hooks; each hook's own limit is checked once one is chosen.
func (p *pathHandler) readBody(c *call) error {
	var err error
	c.body, err = readBody(c.w, c.r, p.maxBody)
	return err
}

// prepare makes the delivery and the data that conditions and templates
// see.
func (p *pathHandler) prepare(c *call) {
	r := c.r
	c.contentType = r.Header.Get("Content-Type")
	c.received = p.s.now().UTC()
	c.d = &postbox.Delivery{
		Method:     r.Method,
		Path:       r.URL.Path,
		Query:      r.URL.Query(),
		Header:     r.Header,
		Body:       c.body,
		RemoteAddr: r.RemoteAddr,
		Received:   c.received,
	}
	if len(p.wildcards) > 0 {
		c.d.PathValues = make(map[string]string, len(p.wildcards))
		for _, n := range p.wildcards {
			c.d.PathValues[n] = r.PathValue(n)
		}
	}
	c.data = postbox.TemplateDataFor(c.d, nil)
	if p.needEnv {
		c.env = postbox.Env(c.data, r.Method, r.RemoteAddr)
	}
}

// parse parses the body once, when a hook's authentication passed (a
// stranger's body costs nothing), and only checks it when no hook of the
// path looks into it.
func (p *pathHandler) parse(c *call) error {
	if c.parsed {
		return nil
	}
	c.parsed = true
	var err error
	if p.needPayload {
		c.payload, err = payload.Parse(c.contentType, c.body)
	} else {
		err = payload.Check(c.contentType, c.body)
	}
	if err != nil && p.s.lenientBody {
		// adnanh/webhook runs the hook with an empty payload then.
		c.log.Info("body does not parse; the payload is empty, as in webhook", "err", err)
		c.payload, err = map[string]any{}, nil
	}
	c.data.Payload = c.payload
	if c.env != nil {
		c.env["payload"] = c.payload
	}
	return err
}

// rules are the chosen hook's: the body parses, is within the hook's
// max_body and meets its schema. A HEAD probe of a GET hook is answered
// here, not stored.
func (p *pathHandler) rules(c *call, rt *route) error {
	h := rt.h
	c.ev.Hook = h.ID
	c.log = c.log.With("hook", h.ID)
	if err := p.parse(c); err != nil {
		return err
	}
	if int64(len(c.body)) > h.MaxBody {
		return postbox.Errorf(postbox.ETOOLARGE, "body is over the limit of %d bytes", h.MaxBody)
	}
	if c.r.Method == http.MethodHead && !slices.Contains(h.Methods, http.MethodHead) {
		// A probe of a GET hook (a monitor).
		for k, v := range h.Response.Header {
			c.w.Header()[k] = v
		}
		c.w.WriteHeader(h.Response.Status)
		return errAnswered
	}
	if h.Schema != nil {
		if err := h.Schema.Validate(c.payload); err != nil {
			return err
		}
	}
	return nil
}

// context is what storing and answering run within. For a sync hook it is
// not the request's: a client that hangs up does not stop the actions;
// the end of shutdown's grace does. done ends it.
func (p *pathHandler) context(c *call, h *postbox.Hook) (ctx context.Context, done func()) {
	if !h.Sync {
		return c.r.Context(), func() {}
	}
	p.s.syncs.Add(1)
	ctx, cancel := context.WithTimeout(p.s.stop, h.SyncTimeout)
	// The queue takes the actions over only if this process dies before
	// they finish.
	c.d.Hold = h.SyncTimeout + 30*time.Second
	// The answer may come later than the server's write timeout.
	_ = http.NewResponseController(c.w).SetWriteDeadline(p.s.now().Add(h.SyncTimeout + 10*time.Second))
	return ctx, func() {
		cancel()
		p.s.syncs.Done()
	}
}

// store completes the delivery for the chosen hook, with its secrets
// redacted, and appends it to the store durably.
func (p *pathHandler) store(ctx context.Context, c *call, rt *route) error {
	h, d, data := rt.h, c.d, c.data
	d.ID = p.s.ids.New(c.received)
	d.HookID = h.ID
	d.Actions = len(h.Actions)
	d.Query = redact(d.Query, p.secretQuery)
	d.Header = redact(d.Header, p.secretHeaders)
	redactCookie(d.Header, postbox.AdminSessionCookie)
	data.Delivery = postbox.DeliveryInfo{ID: d.ID, Received: c.received}
	data.Hook = postbox.HookInfo{ID: h.ID}
	data.Header, data.Query = d.Header, d.Query
	d.DedupKey, d.DedupWindow = dedupKey(h, rt.identifiers, c.r, c.body, data), h.Dedup.Window
	if h.OrderKey != nil {
		var err error
		if d.Key, err = h.OrderKey.Execute(data); err != nil {
			c.log.Warn("ordering key did not render; the delivery is not ordered", "err", err)
		}
	}
	if err := p.s.store.Append(ctx, d); err != nil {
		c.log.Error("store append failed", "err", err)
		var pe *postbox.Error
		if !errors.As(err, &pe) || pe.Code != postbox.EUNAVAILABLE {
			err = &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "store unavailable", Detail: err.Error()}
		}
		return err
	}
	return nil
}

// answer tells the client its delivery is stored: the hook's answer, after
// its actions for a sync hook, or a duplicate's; the queue is woken for
// the actions otherwise.
func (p *pathHandler) answer(ctx context.Context, c *call, h *postbox.Hook) error {
	d, data := c.d, c.data
	status := h.Response.Status
	switch {
	case d.State == postbox.StateDuplicate:
		c.w.Header().Set(DuplicateHeader, d.DuplicateOf)
		c.log = c.log.With("duplicate_of", d.DuplicateOf)
		if h.Sync && d.Actions > 0 {
			// The hook's normal answer: the one its first delivery got.
			data.Result = &postbox.Result{}
			if first, err := p.s.store.Delivery(ctx, d.DuplicateOf); err == nil {
				if data.Results = resultsOf(first); len(data.Results) > 0 {
					data.Result = data.Results[len(data.Results)-1]
					status = syncStatus(h, data)
				}
			}
		}
	case h.Sync && d.Actions > 0 && h.Response.Stream:
		data.Results = p.stream(ctx, c, h)
		c.ev.Status, c.ev.Delivery, c.ev.Duration, c.ev.Bytes = h.Response.Status, d.ID, p.s.now().Sub(c.start), len(c.body)
		p.s.observer.Request(c.ev)
		c.log.Info("accepted", "delivery", d.ID, "status", h.Response.Status, "bytes", len(c.body), "duration", c.ev.Duration, "streamed", true)
		return nil
	case h.Sync && d.Actions > 0:
		data.Results = p.s.runner.RunSync(ctx, p.s.stop, h, d)
		if p.s.stop.Err() != nil {
			return &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "shutting down; the delivery " + d.ID + " is stored and its actions run after the restart"}
		}
		data.Result = data.Results[len(data.Results)-1]
		status = syncStatus(h, data)
		if h.Response.Body == nil {
			// The default body says the delivery's state, which its
			// actions have moved on since it was stored.
			if now, err := p.s.store.Delivery(context.WithoutCancel(ctx), d.ID); err == nil {
				d.State = now.State
			}
		}
	case d.Actions > 0:
		p.s.notify()
	}
	p.s.respond(c.w, h, d, data, status)
	c.ev.Status, c.ev.Delivery, c.ev.Duration, c.ev.Bytes = status, d.ID, p.s.now().Sub(c.start), len(c.body)
	p.s.observer.Request(c.ev)
	c.log.Info("accepted", "delivery", d.ID, "status", status, "bytes", len(c.body), "duration", c.ev.Duration)
	return nil
}

// authenticate runs the checks vs; the first failure is returned, with
// the scheme's challenge set on w. Header-only checks run by VerifyHeader
// (body may be nil for them).
func authenticate(w http.ResponseWriter, r *http.Request, body []byte, vs []postbox.Verifier) error {
	for _, v := range vs {
		var err error
		if ho, ok := v.(signature.HeaderOnly); ok {
			err = ho.VerifyHeader(r)
		} else {
			err = v.Verify(r, body)
		}
		if err != nil {
			if c, ok := v.(signature.Challenger); ok {
				w.Header().Set("WWW-Authenticate", c.Challenge())
			}
			return err
		}
	}
	return nil
}

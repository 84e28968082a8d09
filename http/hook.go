package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
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
	methods       []string // with HEAD when GET is allowed
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

// handlePath serves the hooks that share one path, in order: the first
// whose method, authentication, content type and condition (when:) match
// takes the request. Then: limits, schema, durable store, the answer.
func (s *Server) handlePath(hooks []*postbox.Hook) http.Handler {
	var routes []*route
	var allowed []string
	var maxBody int64
	// Credentials are redacted with every hook's names: a request that one
	// hook authenticated may be taken by another (on_unmatched), whose
	// secrets have other names.
	var secretHeaders, secretQuery []string
	for _, h := range hooks {
		rt := newRoute(h)
		routes = append(routes, rt)
		secretHeaders = append(secretHeaders, rt.secretHeaders...)
		secretQuery = append(secretQuery, rt.secretQuery...)
		for _, m := range rt.methods {
			if !slices.Contains(allowed, m) {
				allowed = append(allowed, m)
			}
		}
		maxBody = max(maxBody, h.MaxBody)
	}
	allow := strings.Join(allowed, ", ")
	var names []string
	for _, m := range wildcard.FindAllStringSubmatch(hooks[0].Path, -1) {
		names = append(names, m[1])
	}
	needPayload, needEnv := false, false
	for _, h := range hooks {
		needEnv = needEnv || h.When != nil || len(h.Vars) > 0
		needPayload = needPayload || h.When != nil || len(h.Vars) > 0 || h.Schema != nil || h.Dedup.Key != nil ||
			h.OrderKey != nil || h.Response.Body != nil && h.Response.Body.UsesPayload()
	}
	var unmatched *postbox.Hook
	for _, h := range hooks {
		if h.AcceptUnmatched && unmatched == nil {
			unmatched = h
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		r.RemoteAddr = clientAddr(r, s.trusted)
		ev := postbox.RequestEvent{Time: start, Hook: hooks[0].ID, Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr}
		log := s.logger
		if log.Enabled(r.Context(), slog.LevelInfo) {
			log = log.With("method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		}
		var body []byte
		fail := func(err error) {
			ev.Status, ev.Reason, ev.Duration = ErrorStatus(err), err.Error(), s.now().Sub(start)
			ev.Bytes, ev.Sample = len(body), body[:min(len(body), 4096)]
			log.Info("rejected", "hook", ev.Hook, "status", ev.Status, "reason", ev.Reason, "duration", ev.Duration)
			s.observer.Request(ev)
			writeError(w, r, err)
		}
		// Admission control: beyond the cap, answer at once rather than
		// hold memory and make every client wait.
		if n := s.inflight.Add(1); s.limits.MaxInflight > 0 && n > int64(s.limits.MaxInflight) {
			s.inflight.Add(-1)
			fail(&postbox.Error{Code: postbox.EUNAVAILABLE, Message: "overloaded; retry later", Detail: fmt.Sprintf("%d requests in progress", n-1)})
			return
		}
		defer s.inflight.Add(-1)
		if !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", allow)
			fail(&postbox.Error{Code: EMETHOD, Message: "method " + r.Method + " not allowed; use " + allow})
			return
		}
		if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
			fail(postbox.Errorf(postbox.EUNSUPPORTED, "Content-Encoding %s is not supported; send the body uncompressed", enc))
			return
		}
		var err error
		if body, err = readBody(w, r, maxBody); err != nil {
			fail(err)
			return
		}
		contentType := r.Header.Get("Content-Type")
		// A delivery as the hooks' conditions and templates see it; its
		// id, hook and secrets are filled in once a hook is chosen.
		received := s.now().UTC()
		d := &postbox.Delivery{
			Method:     r.Method,
			Path:       r.URL.Path,
			Query:      r.URL.Query(),
			Header:     r.Header,
			Body:       body,
			RemoteAddr: r.RemoteAddr,
			Received:   received,
		}
		if len(names) > 0 {
			d.PathValues = make(map[string]string, len(names))
			for _, n := range names {
				d.PathValues[n] = r.PathValue(n)
			}
		}
		data := postbox.TemplateDataFor(d, nil)
		var env map[string]any // what conditions and vars see, when a hook has some
		if needEnv {
			env = postbox.Env(data, r.Method, r.RemoteAddr)
		}
		// The body is parsed once a hook's authentication passed (a
		// stranger's body costs nothing), and only checked when no hook
		// of the path looks into it.
		var payload any
		parsed := false
		parse := func() error {
			if parsed {
				return nil
			}
			parsed = true
			var err error
			if needPayload {
				payload, err = postbox.ParsePayload(contentType, body)
			} else {
				err = postbox.CheckPayload(contentType, body)
			}
			data.Payload = payload
			if env != nil {
				env["payload"] = payload
			}
			return err
		}

		var chosen *route
		var refusal error // the most telling reason no hook took the request
		var reasons []string
		for _, rt := range routes {
			h := rt.h
			if !slices.Contains(rt.methods, r.Method) {
				continue
			}
			if err := authenticate(w, r, body, h); err != nil {
				ev.Hook = h.ID
				if refusal == nil || postbox.ErrorCode(refusal) != postbox.EUNAUTH {
					refusal = err
				}
				reasons = append(reasons, h.ID+": "+err.Error())
				continue
			}
			if err := parse(); err != nil {
				fail(err)
				return
			}
			for _, a := range rt.answerers {
				if ans, ok := a.Answer(r, body); ok {
					for k, vs := range ans.Header {
						w.Header()[k] = vs
					}
					w.WriteHeader(ans.Status)
					w.Write(ans.Body)
					log.Info("answered handshake", "hook", h.ID, "status", ans.Status)
					return
				}
			}
			if !accepts(h.Accept, contentType) {
				err := postbox.Errorf(postbox.EUNSUPPORTED, "Content-Type %q is not accepted; send one of: %s", contentType, strings.Join(h.Accept, ", "))
				if refusal == nil {
					refusal = err
				}
				reasons = append(reasons, h.ID+": "+err.Error())
				continue
			}
			data.Vars = nil
			varsErr := h.EvalVars(data, env)
			if h.When != nil {
				ok, err := h.When.EvalBool(env)
				if err != nil || !ok {
					why := "condition is false: " + h.When.String()
					if err != nil {
						why = "condition failed: " + err.Error()
					}
					if varsErr != nil {
						why += " (" + varsErr.Error() + ")"
					}
					reasons = append(reasons, h.ID+": "+why)
					continue
				}
			}
			chosen = rt
			break
		}
		if chosen == nil && unmatched != nil && (refusal == nil || postbox.ErrorCode(refusal) != postbox.EUNAUTH) {
			plain := *unmatched
			plain.Actions, plain.Sync, plain.Schema = nil, false, nil
			chosen = newRoute(&plain)
			log.Info("no hook matched; stored without actions (on_unmatched: accept)", "hook", unmatched.ID, "reasons", reasons)
		}
		if chosen == nil {
			if refusal == nil {
				refusal = &postbox.Error{Code: postbox.EUNPROCESSABLE, Message: "the request matches no hook's condition",
					Detail: strings.Join(reasons, "; ")}
			} else if d := strings.Join(reasons, "; "); d != "" {
				var pe *postbox.Error
				if errors.As(refusal, &pe) {
					refusal = &postbox.Error{Code: pe.Code, Message: pe.Message, Detail: d}
				}
			}
			fail(refusal)
			return
		}
		if err := parse(); err != nil {
			fail(err)
			return
		}
		h := chosen.h
		ev.Hook = h.ID
		log = log.With("hook", h.ID)
		if int64(len(body)) > h.MaxBody {
			fail(postbox.Errorf(postbox.ETOOLARGE, "body is over the limit of %d bytes", h.MaxBody))
			return
		}
		if r.Method == http.MethodHead && !slices.Contains(h.Methods, http.MethodHead) {
			// A probe of a GET hook (a monitor): answered, not stored.
			for k, v := range h.Response.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(h.Response.Status)
			return
		}
		if h.Schema != nil {
			if err := h.Schema.Validate(payload); err != nil {
				fail(err)
				return
			}
		}
		d.ID = s.ids.New(received)
		d.HookID = h.ID
		d.Actions = len(h.Actions)
		d.Query = redact(d.Query, secretQuery)
		d.Header = redact(d.Header, secretHeaders)
		data.Delivery = postbox.DeliveryInfo{ID: d.ID, Received: received}
		data.Hook = postbox.HookInfo{ID: h.ID}
		data.Header, data.Query = d.Header, d.Query
		d.DedupKey, d.DedupWindow = dedupKey(h, chosen.identifiers, r, body, data), h.Dedup.Window
		if h.OrderKey != nil {
			if d.Key, err = h.OrderKey.Execute(data); err != nil {
				log.Warn("ordering key did not render; the delivery is not ordered", "err", err)
			}
		}
		ctx := r.Context()
		if h.Sync {
			s.syncs.Add(1)
			defer s.syncs.Done()
			// Not the request's context: a client that hangs up does not
			// stop the actions; the end of shutdown's grace does.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(s.stop, h.SyncTimeout)
			defer cancel()
			// The queue takes the actions over only if this process dies
			// before they finish.
			d.Hold = h.SyncTimeout + 30*time.Second
			// The answer may come later than the server's write timeout.
			_ = http.NewResponseController(w).SetWriteDeadline(s.now().Add(h.SyncTimeout + 10*time.Second))
		}
		if err := s.store.Append(ctx, d); err != nil {
			log.Error("store append failed", "err", err)
			var pe *postbox.Error
			if !errors.As(err, &pe) || pe.Code != postbox.EUNAVAILABLE {
				err = &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "store unavailable", Detail: err.Error()}
			}
			fail(err)
			return
		}
		status := h.Response.Status
		switch {
		case d.State == postbox.StateDuplicate:
			w.Header().Set(DuplicateHeader, d.DuplicateOf)
			log = log.With("duplicate_of", d.DuplicateOf)
		case h.Sync && d.Actions > 0:
			data.Results = s.runner.RunSync(ctx, s.stop, h, d)
			if s.stop.Err() != nil {
				fail(&postbox.Error{Code: postbox.EUNAVAILABLE, Message: "shutting down; the delivery " + d.ID + " is stored and its actions run after the restart"})
				return
			}
			data.Result = data.Results[len(data.Results)-1]
			status = syncStatus(h, data)
		case d.Actions > 0:
			s.notify()
		}
		s.respond(w, h, d, data, status)
		ev.Status, ev.Delivery, ev.Duration, ev.Bytes = status, d.ID, s.now().Sub(start), len(body)
		s.observer.Request(ev)
		log.Info("accepted", "delivery", d.ID, "status", status, "bytes", len(body), "duration", ev.Duration)
	})
}

// authenticate runs every check of h; the first failure is returned, with
// the scheme's challenge set on w.
func authenticate(w http.ResponseWriter, r *http.Request, body []byte, h *postbox.Hook) error {
	for _, v := range h.Auth {
		if err := v.Verify(r, body); err != nil {
			if c, ok := v.(signature.Challenger); ok {
				w.Header().Set("WWW-Authenticate", c.Challenge())
			}
			return err
		}
	}
	return nil
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

// dedupKey returns the delivery's dedup key: the hook's template, or else
// the provider's delivery id.
func dedupKey(h *postbox.Hook, ids []signature.Identifier, r *http.Request, body []byte, data *postbox.TemplateData) string {
	if h.Dedup.Key != nil {
		k, err := h.Dedup.Key.Execute(data)
		if err != nil {
			return ""
		}
		return k
	}
	for _, id := range ids {
		if k := id.DeliveryKey(r, body); k != "" {
			return k
		}
	}
	return ""
}

// respond writes the hook's configured answer for the stored delivery d.
func (s *Server) respond(w http.ResponseWriter, h *postbox.Hook, d *postbox.Delivery, data *postbox.TemplateData, status int) {
	hdr := w.Header()
	for k, v := range h.Response.Header {
		hdr[k] = v
	}
	hdr.Set(DeliveryHeader, d.ID)
	var body string
	if h.Response.Body == nil {
		if hdr.Get("Content-Type") == "" {
			hdr.Set("Content-Type", "application/json")
		}
		body = `{"delivery":"` + d.ID + `","status":"` + string(d.State) + `"}` + "\n"
	} else {
		var err error
		body, err = h.Response.Body.Execute(data)
		if err != nil {
			// The delivery is stored; the answer still says so.
			s.logger.Error("response template failed", "hook", h.ID, "delivery", d.ID, "err", err)
			body = ""
		}
		if hdr.Get("Content-Type") == "" {
			hdr.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// readBody reads the whole body, at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, postbox.Errorf(postbox.ETOOLARGE, "body of %d bytes is over the limit of %d", r.ContentLength, max)
	}
	rd := http.MaxBytesReader(w, r.Body, max)
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(rd, body)
	} else {
		body, err = io.ReadAll(rd)
	}
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &maxErr):
		return nil, postbox.Errorf(postbox.ETOOLARGE, "body is over the limit of %d bytes", max)
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, &postbox.Error{Code: ETIMEOUT, Message: "request body not received in time"}
	default:
		return nil, postbox.Errorf(postbox.EINVALID, "could not read the body: %v", err)
	}
}

// redact replaces the values of keys in m and returns m. It changes m in
// place: it runs once authentication is over, on the request's own header
// and query, which nothing reads for a secret afterwards.
func redact[M ~map[string][]string](m M, keys []string) M {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			m[k] = []string{"[redacted]"}
		}
	}
	return m
}

// syncStatus is the answer's status after a sync hook's actions: the
// response status when all succeeded, else the status exit_status maps the
// last command's exit code to, else error_status.
func syncStatus(h *postbox.Hook, data *postbox.TemplateData) int {
	last := data.Result
	if st, ok := h.Response.ExitStatus[last.ExitCode]; ok && last.Outcome != postbox.OutcomeTimeout && last.Outcome != postbox.OutcomeError {
		return st
	}
	if len(data.Results) < len(h.Actions) || last.Outcome != postbox.OutcomeOK {
		return h.Response.ErrorStatus
	}
	return h.Response.Status
}

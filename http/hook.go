package http

import (
	"context"
	"errors"
	"io"
	"maps"
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

// handleHook serves one hook: method, limits, authentication, parsing,
// durable store, then the configured answer.
func (s *Server) handleHook(h *postbox.Hook) http.Handler {
	methods := slices.Clone(h.Methods)
	if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
		methods = append(methods, http.MethodHead)
	}
	allow := strings.Join(methods, ", ")
	var secretHeaders, secretQuery []string
	for _, v := range h.Auth {
		if rd, ok := v.(signature.Redactor); ok {
			secretHeaders = append(secretHeaders, rd.SecretHeaders()...)
			secretQuery = append(secretQuery, rd.SecretQuery()...)
		}
	}
	var names []string
	for _, m := range wildcard.FindAllStringSubmatch(h.Path, -1) {
		names = append(names, m[1])
	}
	var identifiers []signature.Identifier
	var answerers []signature.Answerer
	for _, v := range h.Auth {
		if id, ok := v.(signature.Identifier); ok {
			identifiers = append(identifiers, id)
		}
		if a, ok := v.(signature.Answerer); ok {
			answerers = append(answerers, a)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		r.RemoteAddr = clientAddr(r, s.trusted)
		ev := postbox.RequestEvent{Time: start, Hook: h.ID, Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr}
		log := s.logger.With("hook", h.ID, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		var body []byte
		fail := func(err error) {
			ev.Status, ev.Reason, ev.Duration = ErrorStatus(err), err.Error(), s.now().Sub(start)
			ev.Bytes, ev.Sample = len(body), body[:min(len(body), 4096)]
			log.Info("rejected", "status", ev.Status, "reason", ev.Reason, "duration", ev.Duration)
			s.observer.Request(ev)
			writeError(w, r, err)
		}
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", allow)
			fail(&postbox.Error{Code: EMETHOD, Message: "method " + r.Method + " not allowed; use " + allow})
			return
		}
		if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
			fail(postbox.Errorf(postbox.EUNSUPPORTED, "Content-Encoding %s is not supported; send the body uncompressed", enc))
			return
		}
		var err error
		if body, err = readBody(w, r, h.MaxBody); err != nil {
			fail(err)
			return
		}
		for _, v := range h.Auth {
			if err := v.Verify(r, body); err != nil {
				if c, ok := v.(signature.Challenger); ok {
					w.Header().Set("WWW-Authenticate", c.Challenge())
				}
				fail(err)
				return
			}
		}
		for _, a := range answerers {
			if ans, ok := a.Answer(r, body); ok {
				for k, vs := range ans.Header {
					w.Header()[k] = vs
				}
				w.WriteHeader(ans.Status)
				w.Write(ans.Body)
				log.Info("answered handshake", "status", ans.Status)
				return
			}
		}
		payload, err := postbox.ParsePayload(r.Header.Get("Content-Type"), body)
		if err != nil {
			fail(err)
			return
		}
		received := s.now().UTC()
		d := &postbox.Delivery{
			ID:         s.ids.New(received),
			HookID:     h.ID,
			Method:     r.Method,
			Path:       r.URL.Path,
			Query:      redact(r.URL.Query(), secretQuery),
			Header:     redact(r.Header, secretHeaders),
			Body:       body,
			RemoteAddr: r.RemoteAddr,
			Received:   received,
			Actions:    len(h.Actions),
		}
		if len(names) > 0 {
			d.PathValues = make(map[string]string, len(names))
			for _, n := range names {
				d.PathValues[n] = r.PathValue(n)
			}
		}
		data := postbox.TemplateDataFor(d, payload)
		d.DedupKey, d.DedupWindow = dedupKey(h, identifiers, r, body, data), h.Dedup.Window
		ctx := r.Context()
		if h.Sync {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), h.SyncTimeout)
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
			data.Results = s.runner.RunSync(ctx, h, d)
			data.Result = data.Results[len(data.Results)-1]
			if len(data.Results) < d.Actions || data.Result.Outcome != postbox.OutcomeOK {
				status = h.Response.ErrorStatus
			}
		case d.Actions > 0:
			s.notify()
		}
		s.respond(w, h, d, data, status)
		ev.Status, ev.Delivery, ev.Duration, ev.Bytes = status, d.ID, s.now().Sub(start), len(body)
		s.observer.Request(ev)
		log.Info("accepted", "delivery", d.ID, "status", status, "bytes", len(body), "duration", ev.Duration)
	})
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

// redact returns m with the values of keys replaced, copying m only when a
// key is present.
func redact[M ~map[string][]string](m M, keys []string) M {
	copied := false
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			continue
		}
		if !copied {
			m, copied = maps.Clone(m), true
		}
		m[k] = []string{"[redacted]"}
	}
	return m
}

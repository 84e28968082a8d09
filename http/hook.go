package http

import (
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/signature"
)

// DeliveryHeader carries the id of the stored delivery in every 2xx answer.
const DeliveryHeader = "Postbox-Delivery"

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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		log := s.logger.With("hook", h.ID, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		fail := func(err error) {
			status := ErrorStatus(err)
			log.Info("rejected", "status", status, "reason", err.Error(), "duration", s.now().Sub(start))
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
		body, err := readBody(w, r, h.MaxBody)
		if err != nil {
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
		for _, v := range h.Auth {
			if a, ok := v.(signature.Answerer); ok {
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
		}
		if _, err := postbox.ParsePayload(r.Header.Get("Content-Type"), body); err != nil {
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
		if err := s.store.Append(r.Context(), d); err != nil {
			log.Error("store append failed", "err", err)
			var pe *postbox.Error
			if !errors.As(err, &pe) || pe.Code != postbox.EUNAVAILABLE {
				err = &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "store unavailable", Detail: err.Error()}
			}
			fail(err)
			return
		}
		if d.Actions > 0 {
			s.notify()
		}
		s.respond(w, h, d)
		log.Info("accepted", "delivery", d.ID, "status", h.Response.Status, "bytes", len(body), "duration", s.now().Sub(start))
	})
}

// respond writes the hook's configured answer for the stored delivery d.
func (s *Server) respond(w http.ResponseWriter, h *postbox.Hook, d *postbox.Delivery) {
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
		body = `{"delivery":"` + d.ID + `","status":"accepted"}` + "\n"
	} else {
		var err error
		body, err = h.Response.Body.Execute(postbox.NewTemplateData(d))
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
	w.WriteHeader(h.Response.Status)
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

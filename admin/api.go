package admin

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
)

// Page sizes of /api/deliveries.
const (
	defaultLimit = 50
	maxLimit     = 500
	// maxReplay caps the deliveries one POST /api/replay may replay.
	maxReplay = 1000
)

// deliveryItem is one row of the deliveries list: no body, no attempts.
type deliveryItem struct {
	ID          string        `json:"id"`
	Hook        string        `json:"hook"`
	Method      string        `json:"method"`
	Path        string        `json:"path"`
	Remote      string        `json:"remote_addr"`
	Received    time.Time     `json:"received"`
	State       postbox.State `json:"state"`
	Actions     int           `json:"actions"`
	Series      int           `json:"series"`
	ContentType string        `json:"content_type,omitempty"`
	DuplicateOf string        `json:"duplicate_of,omitempty"`
}

func itemOf(d *postbox.Delivery) deliveryItem {
	return deliveryItem{ID: d.ID, Hook: d.HookID, Method: d.Method, Path: d.Path, Remote: d.RemoteAddr,
		Received: d.Received, State: d.State, Actions: d.Actions, Series: d.Series,
		ContentType: d.ContentType(), DuplicateOf: d.DuplicateOf}
}

// deliveryPage is the answer of GET /api/deliveries.
type deliveryPage struct {
	Deliveries []deliveryItem `json:"deliveries"`
	// Next is the cursor of the following (older) page: pass it as
	// before=. Empty on the last page.
	Next string `json:"next,omitempty"`
}

// handleDeliveries lists deliveries newest first, one page at a time.
func (s *Server) handleDeliveries() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := filterOf(r.URL.Query())
		if err == nil {
			err = principalOf(r).limitFilter(&f)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		limit := f.Limit
		f.Limit = limit + 1 // one more tells whether there is a next page
		list, err := s.store.Deliveries(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page := deliveryPage{Deliveries: make([]deliveryItem, 0, min(len(list), limit))}
		for i, d := range list {
			if i == limit {
				page.Next = list[limit-1].ID
				break
			}
			page.Deliveries = append(page.Deliveries, itemOf(d))
		}
		writeJSON(w, http.StatusOK, page)
	})
}

// filterOf reads a DeliveryFilter from query parameters: hook, state,
// since, until (RFC 3339), q, before, limit.
func filterOf(q url.Values) (postbox.DeliveryFilter, error) {
	f := postbox.DeliveryFilter{Hook: q.Get("hook"), State: postbox.State(q.Get("state")), Before: q.Get("before"),
		Search: q.Get("q"), Limit: defaultLimit}
	if err := checkState(f.State); err != nil {
		return f, err
	}
	var err error
	if f.Since, err = timeParam("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = timeParam("until", q.Get("until")); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return f, postbox.Errorf(postbox.EINVALID, "limit=%q: use a number from 1 to %d", v, maxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func checkState(st postbox.State) error {
	switch st {
	case "", postbox.StatePending, postbox.StateDone, postbox.StateFailed, postbox.StateDead, postbox.StateDuplicate:
		return nil
	}
	return postbox.Errorf(postbox.EINVALID, "state=%q: use pending, done, failed, dead or duplicate", st)
}

func timeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, postbox.Errorf(postbox.EINVALID, "%s=%q: use an RFC 3339 time such as 2025-01-02T15:04:05Z", name, v)
	}
	return t, nil
}

// deliveryDetail is the answer of GET /api/deliveries/{id}.
type deliveryDetail struct {
	*postbox.Delivery
	// Body is the raw body as text (invalid UTF-8 replaced); BodyBase64
	// holds the exact bytes.
	Body       string `json:"body"`
	BodyBase64 string `json:"body_base64"`
	BodyUTF8   bool   `json:"body_utf8"` // false when Body is not the exact bytes
	Size       int    `json:"size"`
	// Payload is the body parsed as the hook's templates see it.
	Payload      any    `json:"payload,omitempty"`
	PayloadError string `json:"payload_error,omitempty"`
	// URL is where the request was sent (HookBase + path + query), for
	// copy-as-curl.
	URL string `json:"url"`
	// Suffix is the path after the static start of the hook's path, as
	// the relay feed has it (postbox listen --replay).
	Suffix string `json:"suffix"`
	// Verification says how the request was authenticated: it was stored,
	// so every listed check passed.
	Verification verification `json:"verification"`
	// Attempts lists every attempt, of every series, oldest first; never
	// null.
	Attempts []*postbox.Attempt `json:"attempts"`
}

type verification struct {
	Passed bool     `json:"passed"`
	Auth   []string `json:"auth"` // the hook's checks, e.g. ["token", "ip"]; empty: none
}

// handleDelivery shows one delivery: headers, body, payload and attempts.
func (s *Server) handleDelivery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.store.Delivery(r.Context(), r.PathValue("id"))
		if err == nil && !principalOf(r).seesHook(d.HookID) {
			err = postbox.Errorf(postbox.ENOTFOUND, "no delivery %s", r.PathValue("id")) // as if it did not exist
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := deliveryDetail{Delivery: d, Body: string(d.Body), BodyBase64: base64.StdEncoding.EncodeToString(d.Body),
			BodyUTF8: utf8.Valid(d.Body), Size: len(d.Body), URL: s.hookBase + d.Path,
			Verification: verification{Passed: true, Auth: []string{}}}
		if !out.BodyUTF8 {
			out.Body = strings.ToValidUTF8(out.Body, "\uFFFD")
		}
		if len(d.Query) > 0 {
			out.URL += "?" + d.Query.Encode()
		}
		if p, err := payload.Parse(d.ContentType(), d.Body); err != nil {
			out.PayloadError = err.Error()
		} else {
			out.Payload = p
		}
		if h := s.hook(d.HookID); h != nil {
			out.Verification.Auth = authLabels(h)
			out.Suffix = suffixOf(h.Path, d.Path)
		}
		out.Attempts = d.Attempts
		if out.Attempts == nil {
			out.Attempts = []*postbox.Attempt{}
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// replayResult is the answer of the replay routes.
type replayResult struct {
	Replayed []string      `json:"replayed"`
	Errors   []replayError `json:"errors"`
}

type replayError struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// handleReplay replays one delivery and wakes the queue.
func (s *Server) handleReplay() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := s.store.Replay(r.Context(), id); err != nil {
			s.fail(w, r, err)
			return
		}
		s.notify()
		s.logger.Info("replay", "delivery", id, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusAccepted, replayResult{Replayed: []string{id}, Errors: []replayError{}})
	})
}

// replayRequest is the body of POST /api/replay: ids, or a filter.
type replayRequest struct {
	IDs    []string      `json:"ids"`
	Filter *replayFilter `json:"filter"`
}

type replayFilter struct {
	Hook  string        `json:"hook"`
	State postbox.State `json:"state"`
	Since time.Time     `json:"since"`
	Until time.Time     `json:"until"`
	Q     string        `json:"q"`
	Limit int           `json:"limit"`
}

// handleReplayMany replays the listed deliveries, or those a filter
// selects (at most 1000), and wakes the queue once.
func (s *Server) handleReplayMany() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req replayRequest
		if err := decodeJSON(w, r, 1<<20, &req); err != nil {
			writeError(w, postbox.Errorf(postbox.ErrorCode(err), "%s; send {\"ids\": [...]} or {\"filter\": {...}}",
				postbox.ErrorMessage(err)))
			return
		}
		ids, err := s.replayIDs(r, req)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		res := replayResult{Replayed: []string{}, Errors: []replayError{}}
		for _, id := range ids {
			if err := s.store.Replay(r.Context(), id); err != nil {
				res.Errors = append(res.Errors, replayError{ID: id, Code: postbox.ErrorCode(err), Message: postbox.ErrorMessage(err)})
				continue
			}
			res.Replayed = append(res.Replayed, id)
		}
		if len(res.Replayed) > 0 {
			s.notify()
		}
		s.logger.Info("replay", "deliveries", len(res.Replayed), "errors", len(res.Errors), "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, res)
	})
}

func (s *Server) replayIDs(r *http.Request, req replayRequest) ([]string, error) {
	switch {
	case len(req.IDs) > 0 && req.Filter != nil:
		return nil, postbox.Errorf(postbox.EINVALID, "send either ids or filter, not both")
	case len(req.IDs) > maxReplay:
		return nil, postbox.Errorf(postbox.EINVALID, "%d ids: replay at most %d at once", len(req.IDs), maxReplay)
	case len(req.IDs) > 0:
		return req.IDs, nil
	case req.Filter == nil:
		return nil, postbox.Errorf(postbox.EINVALID, "send {\"ids\": [...]} or {\"filter\": {...}}")
	}
	f := req.Filter
	if f.Hook == "" && f.State == "" && f.Since.IsZero() && f.Until.IsZero() && f.Q == "" {
		return nil, postbox.Errorf(postbox.EINVALID, "the filter selects every delivery: set hook, state, since, until or q")
	}
	if err := checkState(f.State); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > maxReplay {
		return nil, postbox.Errorf(postbox.EINVALID, "filter.limit %d: replay at most %d at once", f.Limit, maxReplay)
	}
	list, err := s.store.Deliveries(r.Context(), postbox.DeliveryFilter{Hook: f.Hook, State: f.State, Since: f.Since,
		Until: f.Until, Search: f.Q, Limit: f.Limit})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(list))
	for i, d := range list {
		ids[i] = d.ID
	}
	return ids, nil
}

// handleRejections lists the recent rejected requests, newest first.
func (s *Server) handleRejections() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.ring.size()
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				writeError(w, postbox.Errorf(postbox.EINVALID, "limit=%q: use a positive number", v))
				return
			}
			limit = n
		}
		writeJSON(w, http.StatusOK, map[string]any{"rejections": s.ring.list(r.URL.Query().Get("hook"), limit)})
	})
}

// writeJSON writes v as the JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError is the JSON body of every error answer.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers err with the status of its code and its safe message.
func writeError(w http.ResponseWriter, err error) {
	var body apiError
	body.Error.Code, body.Error.Message = postbox.ErrorCode(err), postbox.ErrorMessage(err)
	writeJSON(w, statusOf(body.Error.Code), body)
}

// fail answers err, logging it first when it is the server's fault (the
// client sees only the safe message).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if code := postbox.ErrorCode(err); code == postbox.EINTERNAL || code == postbox.EUNAVAILABLE {
		s.logger.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, err)
}

// statusOf maps an error code to its HTTP status: the one place that does.
func statusOf(code string) int {
	switch code {
	case postbox.EINVALID:
		return http.StatusBadRequest
	case postbox.EUNAUTH:
		return http.StatusUnauthorized
	case eForbidden:
		return http.StatusForbidden
	case postbox.ENOTFOUND:
		return http.StatusNotFound
	case postbox.ECONFLICT:
		return http.StatusConflict
	case postbox.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case postbox.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case eMisdirected:
		return http.StatusMisdirectedRequest
	case postbox.EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	case postbox.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

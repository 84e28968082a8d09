package http

import (
	"io"
	"net/http"
	"strconv"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/signature"
)

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

// syncStatus is the answer's status after a sync hook's actions: the
// response status when all succeeded, else the status exit_status maps the
// last command's exit code to, else error_status.
func syncStatus(h *postbox.Hook, data *postbox.TemplateData) int {
	last := data.Result
	if st, ok := h.Response.ExitStatus[last.ExitCode]; ok && last.Outcome != postbox.OutcomeTimeout && last.Outcome != postbox.OutcomeError {
		return st
	}
	if len(data.Results) < len(h.Actions) {
		return h.Response.ErrorStatus
	}
	// With continue_on_error a later action may succeed after an earlier
	// one failed: the delivery is stored failed, and the answer says so.
	for _, r := range data.Results {
		if r.Outcome != postbox.OutcomeOK {
			return h.Response.ErrorStatus
		}
	}
	return h.Response.Status
}

// resultsOf are the results of a stored delivery's last run of attempts,
// one per action, for the answer to a duplicate of a sync hook: it gets the
// answer its first delivery got (as far as its attempts are recorded).
func resultsOf(d *postbox.Delivery) []*postbox.Result {
	series := 0
	for _, a := range d.Attempts {
		series = max(series, a.Series)
	}
	var out []*postbox.Result
	for _, a := range d.Attempts {
		if a.Series != series {
			continue
		}
		r := &postbox.Result{Outcome: a.Outcome, ExitCode: a.ExitCode, Status: a.Status, Output: a.Output, Truncated: a.Truncated}
		if a.Action < len(out) {
			out[a.Action] = r // a later attempt at the same action
			continue
		}
		out = append(out, r)
	}
	return out
}

package http

import (
	"net/http"

	"github.com/postbox/postbox"
)

// adnanh/webhook's answers to the requests it refuses, which a server in
// its mode (Options.WebhookAnswers, postbox webhook) gives instead of
// postbox's JSON errors.
const (
	webhookNotFound  = "Hook not found."
	webhookRuleError = "Error occurred while evaluating hook rules."
)

// webhookStatus returns webhook's status and body for err, and false when
// webhook had no answer of its own for it (postbox's is given then).
func webhookStatus(err error) (int, string, bool) {
	switch postbox.ErrorCode(err) {
	case postbox.ENOTFOUND:
		return http.StatusNotFound, webhookNotFound, true
	case EMETHOD:
		return http.StatusMethodNotAllowed, "", true
	case postbox.EUNAUTH:
		// Only a signature refuses a converted hook: webhook found the
		// mismatch while evaluating the trigger rule.
		return http.StatusInternalServerError, webhookRuleError, true
	}
	return 0, "", false
}

// answerError is writeError, with webhook's answers when asked for.
func answerError(w http.ResponseWriter, r *http.Request, err error, webhook bool) int {
	if webhook {
		if status, body, ok := webhookStatus(err); ok {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			w.Write([]byte(body))
			return status
		}
	}
	writeError(w, r, err)
	return ErrorStatus(err)
}

// requestID is the X-Request-Id header to log, cut to the limit, or "".
func (s *Server) requestID(r *http.Request) string {
	if s.requestIDLimit == 0 {
		return ""
	}
	id := r.Header.Get("X-Request-Id")
	if s.requestIDLimit > 0 && len(id) > s.requestIDLimit {
		id = id[:s.requestIDLimit]
	}
	return id
}

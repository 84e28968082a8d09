package http

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/postbox/postbox"
)

// codes maps application error codes to HTTP statuses, in one place.
var codes = map[string]int{
	postbox.EINVALID:       http.StatusBadRequest,
	postbox.EUNAUTH:        http.StatusUnauthorized,
	postbox.ENOTFOUND:      http.StatusNotFound,
	postbox.ECONFLICT:      http.StatusConflict,
	postbox.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	postbox.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
	postbox.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	postbox.EUNAVAILABLE:   http.StatusServiceUnavailable,
	postbox.EINTERNAL:      http.StatusInternalServerError,
	ETIMEOUT:               http.StatusRequestTimeout,
	EMETHOD:                http.StatusMethodNotAllowed,
	EHEADERS:               http.StatusRequestHeaderFieldsTooLarge,
}

// Codes that only the HTTP layer produces.
const (
	ETIMEOUT = "timeout"            // the client was too slow (408)
	EMETHOD  = "method_not_allowed" // wrong method for the hook (405)
	EHEADERS = "headers_too_large"  // request line and headers over max_header_bytes (431)
)

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	if st, ok := codes[postbox.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// writeError answers with err's status and a JSON body holding its safe
// message; details stay in logs.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := ErrorStatus(err)
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	var problems []postbox.Problem
	var pe *postbox.Error
	if errors.As(err, &pe) {
		problems = pe.Problems
	}
	json.NewEncoder(w).Encode(struct {
		Error    string            `json:"error"`
		Status   int               `json:"status"`
		Problems []postbox.Problem `json:"problems,omitempty"`
	}{postbox.ErrorMessage(err), status, problems})
}

package postbox

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to a status in one place.
const (
	EINVALID       = "invalid"       // malformed request or body (400)
	EUNAUTH        = "unauthorized"  // authentication failed (401)
	ENOTFOUND      = "not_found"     // no such hook or delivery (404)
	ECONFLICT      = "conflict"      // already exists, e.g. a duplicate delivery (409)
	ETOOLARGE      = "too_large"     // body over the limit (413)
	EUNSUPPORTED   = "unsupported"   // body the hook cannot parse (415)
	EUNPROCESSABLE = "unprocessable" // condition or schema not met (422)
	EUNAVAILABLE   = "unavailable"   // store or queue unavailable (503)
	EINTERNAL      = "internal"      // a bug or an unexpected failure (500)
)

// Error is an application error with a code and a message that is safe to
// show a client. Detail is for logs only and never sent to clients (it may
// say why a signature did not match).
type Error struct {
	Code    string
	Message string
	Detail  string
	// Problems are client-safe specifics (schema violations), sent along
	// with Message.
	Problems []Problem
}

// Problem is one specific reason a request was refused.
type Problem struct {
	Path    string `json:"path,omitempty"` // where in the payload, a JSON pointer
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Message + ": " + e.Detail
	}
	return e.Message
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is or wraps an *Error, and
// EINTERNAL otherwise (and "" for nil).
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

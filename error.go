package postbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// ErrFenced is what a store's write on a job wraps when the writer's claim
// is no longer current: another claim took the job over after its lease
// ran out (the writer stalled past it, or lost the database for as long),
// or the job moved on. The token that decides is Job.Lease. A queue that
// gets it drops the result: the new holder runs the action and records it.
var ErrFenced = errors.New("lease lost to another claim (fenced)")

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

// FieldError is a problem with one field of a configuration. It is the one
// error type for configuration problems: an action or a verifier built from
// its settings sets Field (relative to its own block, e.g. "topic") and
// Message; package config then fills in File, Line and the whole dotted
// path (hooks[0].actions[1].mqtt.topic), and Column where the position
// within the line is known (an expression's). The zero Line, Column and
// File are left out of the message.
type FieldError struct {
	File   string
	Line   int
	Column int
	// Field is the dotted path of the field, "" for a problem of the file
	// as a whole (a syntax error).
	Field string
	// Message says what is wrong, e.g. "is empty".
	Message string
}

// Error returns "file:line:column: field message", one line: a value quoted
// in Message may hold control characters, which are shown as ␤.
func (e *FieldError) Error() string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '␤'
		}
		return r
	}, e.line())
}

// String is Error: a configuration problem as `postbox check` prints it.
func (e *FieldError) String() string { return e.Error() }

func (e *FieldError) line() string {
	msg := e.Message
	if e.Field != "" {
		// "topic is empty" reads as a sentence; "when: unknown name x"
		// needs the colon.
		sep := ": "
		for _, verb := range []string{"is ", "must ", "may ", "has "} {
			if strings.HasPrefix(msg, verb) {
				sep = " "
				break
			}
		}
		msg = e.Field + sep + msg
	}
	loc := e.File
	if loc != "" && e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			loc += ":" + strconv.Itoa(e.Column)
		}
	}
	if loc == "" {
		return msg
	}
	return loc + ": " + msg
}

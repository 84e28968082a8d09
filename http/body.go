package http

import (
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/postbox/postbox"
)

// bodyChunk is what readBody allocates before the first byte of a body
// arrives, and the size it starts growing from. A client that declares a
// large Content-Length and sends nothing costs this much, not what it
// declared.
const bodyChunk = 16 << 10

// readBody reads the whole body, at most max bytes, into a buffer that
// grows as bytes arrive (doubling, never past the declared length), so
// that what a body holds in memory is what the client really sent.
//
// The memory bound: bodies are read only by admitted requests, at most
// Limits.MaxInflight at once (limits.max_inflight, default 1024), each at
// most the largest max_body of its path's hooks (limits.max_body, default
// 1 MiB): MaxInflight × max_body for bodies being read, plus at most half
// as much again while a buffer is copied into a larger one. Requests to a
// hook with header-only authentication (token, basic, gitlab, ip) that
// fail it are refused before this runs and hold nothing.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, postbox.Errorf(postbox.ETOOLARGE, "body of %d bytes is over the limit of %d", r.ContentLength, max)
	}
	rd := http.MaxBytesReader(w, r.Body, max)
	// want is where reading stops: the declared length, or one byte past
	// max for a chunked body, which MaxBytesReader then refuses.
	want := max + 1
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	body := make([]byte, 0, min(want, bodyChunk))
	var err error
	for int64(len(body)) < want {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), min(want, 2*int64(cap(body))))
			copy(grown, body)
			body = grown
		}
		var n int
		n, err = rd.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err != nil {
			break
		}
	}
	var maxErr *http.MaxBytesError
	var netErr net.Error
	switch {
	case err == nil:
		return body, nil
	case err == io.EOF && (r.ContentLength < 0 || int64(len(body)) == r.ContentLength):
		return body, nil
	case err == io.EOF:
		return nil, postbox.Errorf(postbox.EINVALID, "could not read the body: %v", io.ErrUnexpectedEOF)
	case errors.As(err, &maxErr):
		return nil, postbox.Errorf(postbox.ETOOLARGE, "body is over the limit of %d bytes", max)
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, &postbox.Error{Code: ETIMEOUT, Message: "request body not received in time"}
	default:
		return nil, postbox.Errorf(postbox.EINVALID, "could not read the body: %v", err)
	}
}

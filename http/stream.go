package http

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/postbox/postbox"
)

// Trailers of a streamed answer: how the sync hook's last action ended,
// known only once its output has been sent.
const (
	ExitStatusTrailer = "Postbox-Exit-Status"
	OutcomeTrailer    = "Postbox-Outcome"
)

// streamWriter sends a command's output to the client as it comes,
// flushing each write; once closed it drops what a command's leftover
// children still write.
type streamWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	rc     *http.ResponseController
	closed bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return len(p), nil
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, err
}

func (s *streamWriter) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// stream runs a sync hook's actions with their output sent to the client
// as it is written (response: {stream: true}): the status is the hook's
// success status, sent first; how the last action ended follows in the
// trailers. The attempts are recorded as for any sync hook.
func (p *pathHandler) stream(ctx context.Context, c *call, h *postbox.Hook) []*postbox.Result {
	hdr := c.w.Header()
	for k, v := range h.Response.Header {
		hdr[k] = v
	}
	hdr.Set(DeliveryHeader, c.d.ID)
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
	}
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Trailer", ExitStatusTrailer)
	hdr.Add("Trailer", OutcomeTrailer)
	c.w.WriteHeader(h.Response.Status)
	sw := &streamWriter{w: c.w, rc: http.NewResponseController(c.w)}
	sw.rc.Flush()
	results := p.s.runner.RunSync(postbox.OutputTo(ctx, sw), p.s.stop, h, c.d)
	sw.close()
	if len(results) > 0 {
		last := results[len(results)-1]
		hdr.Set(ExitStatusTrailer, strconv.Itoa(last.ExitCode))
		hdr.Set(OutcomeTrailer, string(last.Outcome))
	}
	return results
}

package admin

import (
	"testing"

	vm "github.com/VictoriaMetrics/metrics"
)

func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	dropped := new(vm.Counter)
	h := newHub(2, dropped)
	slow, ok := h.subscribe()
	if !ok {
		t.Fatal("subscribe refused")
	}
	fast, _ := h.subscribe()
	for i := range 5 {
		h.publish(event{kind: "request", data: i}) // must return although nobody reads slow
		if i < 2 {
			<-fast.ch
		}
	}
	if len(slow.ch) != 2 {
		t.Errorf("slow subscriber holds %d events, want its buffer of 2", len(slow.ch))
	}
	if got := slow.takeMissed(); got != 3 {
		t.Errorf("slow subscriber missed %d, want 3", got)
	}
	if got := slow.takeMissed(); got != 0 {
		t.Errorf("missed is not reset: %d", got)
	}
	// fast read the first two and buffers events 3 and 4 but not 5.
	if got := dropped.Get(); got != 4 {
		t.Errorf("dropped counter = %d, want 3 for slow and 1 for fast", got)
	}
	h.unsubscribe(slow)
	h.close()
	h.close()
	if _, ok := h.subscribe(); ok {
		t.Error("subscribe after close succeeded")
	}
	select {
	case <-h.done:
	default:
		t.Error("close did not end the streams")
	}
}

func TestReasonClasses(t *testing.T) {
	for status, want := range map[int]string{400: "bad_request", 401: "auth", 403: "auth", 404: "not_found",
		405: "method", 408: "timeout", 413: "too_large", 415: "unsupported", 422: "unprocessable",
		429: "overloaded", 503: "unavailable", 500: "internal", 418: "other"} {
		if got := reasonClass(status); got != want {
			t.Errorf("reasonClass(%d) = %q, want %q", status, got, want)
		}
	}
}

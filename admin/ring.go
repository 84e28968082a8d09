package admin

import (
	"encoding/base64"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/postbox/postbox"
)

// ring keeps the most recent rejected requests in memory: a fixed number
// of entries, each with at most sampleSize bytes of its body, so that the
// console can show what was refused and why without storing bodies of
// unauthenticated requests.
type ring struct {
	mu         sync.Mutex
	entries    []rejection
	next       int // where the next entry goes
	full       bool
	sampleSize int
}

// rejection is one refused request.
type rejection struct {
	Time     time.Time
	Hook     string
	Method   string
	Path     string
	Remote   string
	Status   int
	Class    string
	Reason   string
	Bytes    int
	Duration time.Duration
	Sample   []byte // a copy: never the request's own buffer
}

func newRing(size, sampleSize int) *ring {
	return &ring{entries: make([]rejection, size), sampleSize: sampleSize}
}

// size is the ring's capacity.
func (r *ring) size() int { return len(r.entries) }

// add records ev. The sample is copied, so that the ring never keeps a
// whole request body alive through a sub-slice.
func (r *ring) add(ev postbox.RequestEvent, class string) {
	sample := ev.Sample[:min(len(ev.Sample), r.sampleSize)]
	e := rejection{Time: ev.Time, Hook: ev.Hook, Method: ev.Method, Path: ev.Path, Remote: ev.Remote,
		Status: ev.Status, Class: class, Reason: ev.Reason, Bytes: ev.Bytes, Duration: ev.Duration,
		Sample: append([]byte(nil), sample...)}
	r.mu.Lock()
	r.entries[r.next] = e
	r.next++
	if r.next == len(r.entries) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// rejectionView is a rejection as GET /api/rejections shows it.
type rejectionView struct {
	Time       time.Time `json:"time"`
	Hook       string    `json:"hook"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Remote     string    `json:"remote"`
	Status     int       `json:"status"`
	Class      string    `json:"class"`
	Reason     string    `json:"reason"`
	Bytes      int       `json:"bytes"`
	DurationMS float64   `json:"duration_ms"`
	// Sample is the start of the body as text (invalid UTF-8 replaced);
	// SampleBase64 holds its exact bytes. Truncated says the body was
	// longer than the sample.
	Sample       string `json:"sample"`
	SampleBase64 string `json:"sample_base64"`
	Truncated    bool   `json:"truncated"`
}

// list returns up to limit entries, newest first, of hook (every hook when
// hook is empty).
func (r *ring) list(hook string, limit int) []rejectionView {
	r.mu.Lock()
	n := r.next
	if r.full {
		n = len(r.entries)
	}
	picked := make([]rejection, 0, min(n, limit))
	for i := 0; i < n && len(picked) < limit; i++ {
		e := r.entries[(r.next-1-i+len(r.entries))%len(r.entries)]
		if hook == "" || e.Hook == hook {
			picked = append(picked, e)
		}
	}
	r.mu.Unlock()
	out := make([]rejectionView, len(picked))
	for i, e := range picked {
		text := string(e.Sample)
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "\uFFFD")
		}
		out[i] = rejectionView{Time: e.Time, Hook: e.Hook, Method: e.Method, Path: e.Path, Remote: e.Remote,
			Status: e.Status, Class: e.Class, Reason: e.Reason, Bytes: e.Bytes, DurationMS: ms(e.Duration),
			Sample: text, SampleBase64: base64.StdEncoding.EncodeToString(e.Sample), Truncated: e.Bytes > len(e.Sample)}
	}
	return out
}

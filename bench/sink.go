package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// sentField is where a request's send time goes in its body: the client's
// clock (time.Now().UnixNano()) in decimal. The sink runs in the harness's
// own process, so that send and arrival times share one clock.
const sentField = `"bench_sent": "`

// sink is the endpoint that postbox's http actions call in the delivery
// scenarios: a net/http server of the harness on 127.0.0.1 that answers
// after a delay and records, for each delivery that reaches it, the time
// from when the load generator sent it to when it arrived.
//
// A holding sink never answers: it keeps each request open until the
// caller gives up (postbox's action timeout) or the sink closes, as a
// destination that hangs does.
type sink struct {
	delay   time.Duration
	hold    bool
	ln      net.Listener
	srv     *http.Server
	closing chan struct{}
	done    chan struct{} // closed once Serve returned

	mu       sync.Mutex
	seen     map[uint64]struct{} // bench_seq of every delivery that arrived
	lat      []int64             // send to arrival of first arrivals, nanoseconds
	calls    int                 // requests received, repeats and strays included
	dups     int                 // repeats of a delivery that had arrived
	stray    int                 // bodies without bench_seq or bench_sent
	last     time.Time           // arrival of the latest first arrival
	held     int                 // requests being held now (hold)
	heldPeak int
}

// startSink listens on a new loopback port and serves until close.
func startSink(delay time.Duration, hold bool) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{delay: delay, hold: hold, ln: ln, closing: make(chan struct{}), done: make(chan struct{}),
		seen: map[uint64]struct{}{}}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Callers that give up mid-request are expected (hold); their
		// errors are not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// url is where the sink is called.
func (s *sink) url() string { return "http://" + s.ln.Addr().String() + "/sink" }

// port is the sink's port, as it appears in a destination's name.
func (s *sink) port() string {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return port
}

// close ends held requests and stops the server.
func (s *sink) close() {
	close(s.closing)
	s.srv.Close()
	<-s.done
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	now := time.Now()
	if err != nil {
		return
	}
	s.record(body, now)
	if s.hold {
		s.mu.Lock()
		s.held++
		s.heldPeak = max(s.heldPeak, s.held)
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		s.mu.Lock()
		s.held--
		s.mu.Unlock()
		return
	}
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closing:
		}
		t.Stop()
	}
	w.WriteHeader(http.StatusOK)
}

// record notes one arrival of body at now.
func (s *sink) record(body []byte, now time.Time) {
	seq, sent, err := parseMarks(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	switch {
	case err != nil:
		s.stray++
	case hasKey(s.seen, seq):
		s.dups++
	default:
		s.seen[seq] = struct{}{}
		s.lat = append(s.lat, now.UnixNano()-sent)
		s.last = now
	}
}

func hasKey(m map[uint64]struct{}, k uint64) bool {
	_, ok := m[k]
	return ok
}

// parseMarks reads bench_seq and bench_sent from a request body.
func parseMarks(body []byte) (seq uint64, sent int64, err error) {
	i := bytes.Index(body, []byte(seqField))
	if i < 0 || len(body) < i+len(seqField)+16 {
		return 0, 0, errors.New("no bench_seq")
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], body[i+len(seqField):i+len(seqField)+16]); err != nil {
		return 0, 0, err
	}
	for _, c := range b {
		seq = seq<<8 | uint64(c)
	}
	j := bytes.Index(body, []byte(sentField))
	if j < 0 {
		return 0, 0, errors.New("no bench_sent")
	}
	rest := body[j+len(sentField):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, 0, errors.New("bench_sent is not closed")
	}
	sent, err = strconv.ParseInt(string(rest[:end]), 10, 64)
	return seq, sent, err
}

// sinkCounts is what a sink saw so far.
type sinkCounts struct {
	Arrived  int // deliveries that arrived at least once
	Calls    int
	Dups     int
	Stray    int
	Last     time.Time
	HeldPeak int
}

func (s *sink) counts() sinkCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sinkCounts{Arrived: len(s.seen), Calls: s.calls, Dups: s.dups, Stray: s.stray, Last: s.last, HeldPeak: s.heldPeak}
}

// arrivedOf counts the deliveries of seqs that arrived.
func (s *sink) arrivedOf(seqs []uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range seqs {
		if hasKey(s.seen, q) {
			n++
		}
	}
	return n
}

// latencies returns send-to-arrival times of first arrivals, sorted.
func (s *sink) latencies() []int64 {
	s.mu.Lock()
	v := slices.Clone(s.lat)
	s.mu.Unlock()
	slices.Sort(v)
	return v
}

// waitArrived polls until n deliveries arrived, limit passed or ctx ended.
func (s *sink) waitArrived(ctx context.Context, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for s.counts().Arrived < n && time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 10*time.Millisecond)
	}
}

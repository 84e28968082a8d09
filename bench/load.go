package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// requestFunc appends one complete raw HTTP/1.1 request to b; seq is unique
// per request within a load run.
type requestFunc func(b []byte, seq uint64) []byte

// loadSpec is one closed-loop load: conns connections, each sending a
// request as soon as the previous answer arrived, keep-alive.
type loadSpec struct {
	addr     string
	conns    int
	warmup   time.Duration // requests before the window are not measured
	duration time.Duration // the measured window
	timeout  time.Duration // per request
	request  requestFunc
	// window, when set, is called as the measured window starts (true)
	// and ends (false), for counts taken beside the load's own.
	window func(start bool)
}

// loadResult is what one load measured in its window.
type loadResult struct {
	Window    time.Duration
	OK        int     // 2xx answers that started inside the window
	Non2xx    int     // other answers inside the window
	Errors    int     // connection errors and timeouts inside the window
	Sent      int     // every 2xx answer, warm-up included
	Latencies []int64 // of 2xx answers, nanoseconds, sorted
	Statuses  map[int]int
	FirstErr  string
}

// phases of a load, in order.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// runLoad drives spec.addr and returns what the measured window saw. It
// returns early, with what was measured, when ctx ends.
func runLoad(ctx context.Context, spec loadSpec) loadResult {
	var phase atomic.Int32
	var seq atomic.Uint64
	workers := make([]*loadWorker, spec.conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &loadWorker{spec: &spec, phase: &phase, seq: &seq, statuses: map[int]int{}}
		workers[i] = w
		wg.Go(w.loop)
	}
	sleep(ctx, spec.warmup)
	phase.Store(phaseMeasure)
	start := time.Now()
	if spec.window != nil {
		spec.window(true)
	}
	sleep(ctx, spec.duration)
	phase.Store(phaseStop)
	window := time.Since(start)
	if spec.window != nil {
		spec.window(false)
	}
	wg.Wait()

	res := loadResult{Window: window, Statuses: map[int]int{}}
	for _, w := range workers {
		res.OK += len(w.lat)
		res.Non2xx += w.non2xx
		res.Errors += w.errors
		res.Sent += w.sent
		res.Latencies = append(res.Latencies, w.lat...)
		for k, v := range w.statuses {
			res.Statuses[k] += v
		}
		if res.FirstErr == "" {
			res.FirstErr = w.firstErr
		}
	}
	slices.Sort(res.Latencies)
	return res
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// loadWorker is one connection of a load.
type loadWorker struct {
	spec  *loadSpec
	phase *atomic.Int32
	seq   *atomic.Uint64

	c        *httpConn
	lat      []int64
	non2xx   int
	errors   int
	sent     int
	statuses map[int]int
	firstErr string
}

func (w *loadWorker) loop() {
	defer func() {
		if w.c != nil {
			w.c.close()
		}
	}()
	var req []byte
	for {
		ph := w.phase.Load()
		if ph == phaseStop {
			return
		}
		req = w.spec.request(req[:0], w.seq.Add(1))
		t0 := time.Now()
		status, err := w.do(req, t0.Add(w.spec.timeout))
		d := time.Since(t0)
		if status >= 200 && status < 300 {
			w.sent++
		}
		if ph != phaseMeasure {
			if err != nil {
				// The server may be gone: do not spin.
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		switch {
		case err != nil:
			w.errors++
			if w.firstErr == "" {
				w.firstErr = err.Error()
			}
			time.Sleep(10 * time.Millisecond)
		case status >= 200 && status < 300:
			w.lat = append(w.lat, int64(d))
		default:
			w.non2xx++
			w.statuses[status]++
		}
	}
}

func (w *loadWorker) do(req []byte, deadline time.Time) (int, error) {
	if w.c == nil {
		c, err := dialHTTP(w.spec.addr)
		if err != nil {
			return 0, err
		}
		w.c = c
	}
	status, keep, err := w.c.roundTrip(req, deadline)
	if err != nil || !keep {
		w.c.close()
		w.c = nil
	}
	return status, err
}

// httpConn is a minimal HTTP/1.1 client connection: it writes a prepared
// request and reads the answer's status and body, so that the load
// generator costs little of the CPU it shares with the server.
type httpConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialHTTP(addr string) (*httpConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &httpConn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (c *httpConn) close() { c.nc.Close() }

// roundTrip sends req and reads one answer; keep is false when the server
// closes the connection after it.
func (c *httpConn) roundTrip(req []byte, deadline time.Time) (status int, keep bool, err error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return 0, false, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return 0, false, err
	}
	return readResponse(c.br)
}

// readResponse reads a response's head and body from br.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	keep = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, fmt.Errorf("header: %w", err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, false, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = keep && !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
	case status == 204 || status == 304 || status < 200:
	default:
		// No length: the body ends with the connection.
		_, err = io.Copy(io.Discard, br)
		keep = false
	}
	if err != nil {
		return 0, false, fmt.Errorf("body: %w", err)
	}
	return status, keep, nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if n == 0 {
			// Trailers end with an empty line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted values,
// nearest rank; 0 when there are none.
func percentile(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return time.Duration(sorted[rank])
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
)

// sample is one measurement: one scenario at one connection count in one
// run, on a freshly started server with an empty store.
type sample struct {
	RPS      float64       `json:"rps"` // 2xx answers per second in the window
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	P999     time.Duration `json:"p999"`
	OK       int           `json:"ok"`
	Non2xx   int           `json:"non2xx"`
	Errors   int           `json:"errors"`
	FirstErr string        `json:"first_error,omitempty"`
	Statuses map[int]int   `json:"statuses,omitempty"`
	RSSIdle  int64         `json:"rss_idle"` // bytes, just after ready
	// AnonIdle is the anonymous part of RSSIdle (the rest is pages of
	// the binary).
	AnonIdle int64         `json:"anon_idle"`
	RSSPeak  int64         `json:"rss_peak"` // bytes, VmHWM after the load
	Ready    time.Duration `json:"ready"`    // process start to first 200 on /healthz
	// ReadyRestart is the same on a store that exists (a restart); 0 for
	// the ceiling.
	ReadyRestart time.Duration `json:"ready_restart,omitempty"`
	// CPU is the server's CPU time (with its exec children) per answered
	// request over the whole load, warm-up included; Client is the load
	// generator's.
	CPU    time.Duration `json:"cpu_per_req"`
	Client time.Duration `json:"client_cpu_per_req"`
	Exec   *execStats    `json:"exec,omitempty"`
}

// execStats says whether the queue kept up with an exec hook.
type execStats struct {
	Accepted int `json:"accepted"` // deliveries stored, warm-up included
	// Done is how many had their action completed when the load ended.
	Done int `json:"done"`
	// Failed counts actions that failed (a problem, with /bin/true).
	Failed int `json:"failed"`
	// Rate is Done per second of load (warm-up included).
	Rate float64 `json:"rate"`
	// Drain is how long the backlog took to empty after the load, or -1
	// when it was not empty after DrainLimit.
	Drain      time.Duration `json:"drain"`
	DrainLimit time.Duration `json:"drain_limit"`
	// DoneAfter is how many were done when the drain wait ended.
	DoneAfter int `json:"done_after"`
	// DrainRate is how many actions completed (done or failed) per second
	// after the load, until the backlog was empty or DrainLimit passed; 0
	// when there was nothing left to run.
	DrainRate float64 `json:"drain_rate,omitempty"`
}

// drainRateLimit bounds the wait for the backlog of a scenario with
// DrainRate to empty after its load.
const drainRateLimit = 60 * time.Second

// measurer runs measurements with the options and binaries of one run.
type measurer struct {
	opts   options
	bins   *binaries
	tmp    string // parent of each measurement's directory
	logf   func(format string, args ...any)
	serial int
}

// measure starts the scenario's server, loads it with conns connections
// and stops it.
func (m *measurer) measure(ctx context.Context, sc scenario, conns int) (sample, error) {
	m.serial++
	dir := filepath.Join(m.tmp, fmt.Sprintf("%03d-%s-%d", m.serial, sc.Key, conns))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return sample{}, err
	}
	var p *proc
	var restart time.Duration
	if sc.Ceiling {
		p, err = startProc(ctx, dir, addr, m.bins.Ceiling, "-addr", addr)
	} else {
		p, restart, err = m.startPostbox(ctx, sc, dir, addr)
	}
	if err != nil {
		return sample{}, err
	}
	defer p.stop()
	m.logf("  %s conns=%d pid=%d ready in %v", sc.Key, conns, p.cmd.Process.Pid, p.Ready.Round(time.Millisecond/10))
	sleep(ctx, m.opts.settle)
	idle := p.readMemory()
	s := sample{Ready: p.Ready, ReadyRestart: restart, RSSIdle: idle.RSS, AnonIdle: idle.Anon}

	req, err := sc.requests(addr)
	if err != nil {
		return sample{}, err
	}
	started, cpu0, client0 := time.Now(), p.cpuTime(), selfCPU()
	res := runLoad(ctx, loadSpec{addr: addr, conns: conns, warmup: m.opts.warmup, duration: m.opts.duration,
		timeout: 30 * time.Second, request: req})
	elapsed := time.Since(started)
	if n := time.Duration(res.Sent + res.Non2xx); n > 0 {
		s.CPU, s.Client = (p.cpuTime()-cpu0)/n, (selfCPU()-client0)/n
	}
	s.RSSPeak = p.readMemory().Peak
	if !p.alive() {
		return sample{}, fmt.Errorf("%s exited under load\n%s", sc.Key, p.out.String())
	}
	s.OK, s.Non2xx, s.Errors, s.FirstErr = res.OK, res.Non2xx, res.Errors, res.FirstErr
	if len(res.Statuses) > 0 {
		s.Statuses = res.Statuses
	}
	s.RPS = float64(res.OK) / res.Window.Seconds()
	s.P50, s.P99, s.P999 = percentile(res.Latencies, 50), percentile(res.Latencies, 99), percentile(res.Latencies, 99.9)
	if sc.Exec {
		drain := m.opts.drain
		switch {
		case sc.Slow:
			drain = 0
		case sc.DrainRate && conns == slices.Max(m.opts.conns):
			drain = drainRateLimit
			if m.opts.quick {
				drain = time.Second
			}
		}
		if s.Exec, err = m.execStats(ctx, filepath.Join(dir, "data", "postbox.db"), res.Sent, elapsed, drain); err != nil {
			return sample{}, err
		}
	}
	if s.Non2xx > 0 || s.Errors > 0 {
		m.logf("  %s conns=%d: %d non-2xx %v, %d errors (first: %s)\n%s", sc.Key, conns, s.Non2xx, s.Statuses,
			s.Errors, s.FirstErr, p.out.String())
	}
	return s, nil
}

// startPostbox starts postbox for sc twice: on an empty data directory
// (its Ready is the first start's time to ready, migrations included),
// then again on the store the first left (restart). The second process
// is returned.
func (m *measurer) startPostbox(ctx context.Context, sc scenario, dir, addr string) (*proc, time.Duration, error) {
	admin := "off"
	if m.opts.admin {
		var err error
		if admin, err = freeAddr(); err != nil {
			return nil, 0, err
		}
	}
	cfg, err := sc.writeConfig(dir, addr, admin, m.opts.workers)
	if err != nil {
		return nil, 0, err
	}
	args := []string{"serve", "--config", cfg, "--log-level", "warn", "--grace", "2s"}
	first, err := startProc(ctx, dir, addr, m.bins.Postbox, args...)
	if err != nil {
		return nil, 0, err
	}
	first.stop()
	p, err := startProc(ctx, dir, addr, m.bins.Postbox, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("restart: %w", err)
	}
	restart := p.Ready
	p.Ready, p.admin = first.Ready, admin
	return p, restart, nil
}

// execStats counts, in the store of a running postbox, the deliveries whose
// action completed, then waits up to the drain limit for the rest.
func (m *measurer) execStats(ctx context.Context, path string, accepted int, elapsed, drain time.Duration) (*execStats, error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read the store: %w", err)
	}
	defer db.Close()
	count := func() (done, failed, total int, err error) {
		stats, err := db.HookStats(ctx)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("read the store: %w", err)
		}
		for _, h := range stats {
			done += h.States[postbox.StateDone]
			failed += h.States[postbox.StateFailed] + h.States[postbox.StateDead]
			total += h.Total
		}
		return done, failed, total, nil
	}
	done, failed, total, err := count()
	if err != nil {
		return nil, err
	}
	e := &execStats{Accepted: max(accepted, total), Done: done, Failed: failed,
		Rate: float64(done) / elapsed.Seconds(), DrainLimit: drain, Drain: -1}
	start, completed := time.Now(), done+failed
	for {
		if done+failed >= total {
			e.Drain = time.Since(start)
			break
		}
		if time.Since(start) >= drain || ctx.Err() != nil {
			break
		}
		// Counting scans the whole table: after the first second, do it
		// seldom enough not to slow the drain it measures.
		poll := 50 * time.Millisecond
		if time.Since(start) > time.Second {
			poll = time.Second
		}
		sleep(ctx, min(poll, drain-time.Since(start)))
		if done, failed, total, err = count(); err != nil {
			return nil, err
		}
	}
	if n := done + failed - completed; n > 0 {
		e.DrainRate = float64(n) / time.Since(start).Seconds()
	}
	e.DoneAfter = done
	return e, nil
}

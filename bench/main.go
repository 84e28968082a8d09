// Command bench is postbox's benchmark harness. It builds ./cmd/postbox and
// a bare net/http server (./bench/ceiling), starts each as its own process
// on 127.0.0.1 and drives it with a closed-loop load generator: N
// keep-alive connections, each sending its next request as soon as the
// previous answer arrived. In one run it measures, side by side:
//
//	a  the ceiling: a bare net/http handler answering 200
//	b  postbox: token-authenticated JSON hook, durable SQLite store, no action
//	c  the same with the GitHub preset (HMAC-SHA256 of every body)
//	d  an exec hook running /bin/true from the queue (async)
//	e  a sync exec hook (mode: sync) running /bin/true before answering
//	f  an exec hook whose command runs 1 s (sleep 1), async: the command's
//	   run time must not slow the answer (docs/performance.md)
//
// and, forwarding every delivery with an http action to a sink that the
// harness runs on 127.0.0.1 and that records when each one arrived:
//
//	g  2,000 requests/s offered (open loop: sent on a schedule, whatever
//	   the answers do) to a hook whose destination answers in 20 ms
//	h  g, plus 50 requests/s to a second hook whose destination never
//	   answers: the first hook's deliveries must not wait for it, and the
//	   circuit breaker should open
//	i  64 connections, closed loop, to a destination that answers at once:
//	   deliveries per second against acceptance (and b)
//
// For each scenario and connection count it reports req/s, p50/p99/p99.9
// latency, errors, the ratio to the ceiling, the server's CPU time per request
// (which shares less of a busy machine's noise), RSS idle and at peak, and the
// time from process start to ready; for postbox also the binary size and,
// for exec hooks, whether the queue kept up. Every measurement starts a
// fresh server with an empty store; runs are repeated and the median shown.
//
// Usage, from the repository:
//
//	go run ./bench -duration 10s [-runs 3] [-conns 1,16,64] [-json out.json] [-compare old.json]
//	go run ./bench -quick   # a smoke run of a few seconds
//
// -scenarios b,e,g (or -only beg) runs some scenarios (keep a and b: the
// ratios need them),
// -postbox FILE measures a prebuilt binary (to compare two builds in one
// sitting), -workers N sets postbox's queue size, -admin=false turns the
// admin listener off, -v logs each server's pid (for perf record -p),
// -cpuprofile FILE profiles the harness itself (its generators and sinks).
// Results are in docs/performance.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(2)
	}
}

// options are the harness's flags.
type options struct {
	duration time.Duration // measured window of each load
	warmup   time.Duration // unmeasured load before the window
	settle   time.Duration // wait after ready before idle RSS is read
	drain    time.Duration // how long to wait for an exec backlog to empty
	runs     int
	workers  int // postbox's queue workers; 0 means its default
	conns    []int
	only     string // scenario keys to run, e.g. "ab"; empty means all
	postbox  string // a prebuilt postbox binary; empty means build ./cmd/postbox
	jsonOut  string
	compare  string
	admin    bool
	quick    bool
	verbose  bool
	cpuProf  string // the harness's own CPU profile (its load generators and sinks)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured `time` of each load")
	fs.DurationVar(&o.warmup, "warmup", 0, "unmeasured load before each window (default: a fifth of -duration, at most 2s)")
	fs.IntVar(&o.runs, "runs", 3, "repetitions; the median is reported")
	conns := fs.String("conns", "1,16,64", "comma-separated connection `counts`")
	fs.StringVar(&o.only, "only", "", "run only these scenario `keys`, e.g. ab (a is needed for ratios)")
	fs.StringVar(&o.only, "scenarios", "", "run only these scenario `keys`, e.g. b,g,h,i (the same as -only)")
	fs.StringVar(&o.postbox, "postbox", "", "measure this postbox `binary` instead of building ./cmd/postbox (to compare builds)")
	fs.StringVar(&o.jsonOut, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&o.compare, "compare", "", "print the change from an earlier -json `file`")
	fs.IntVar(&o.workers, "workers", 0, "postbox's queue `workers` (0: its default, the number of CPUs)")
	fs.BoolVar(&o.admin, "admin", true, "run postbox with its admin listener, as by default")
	fs.BoolVar(&o.quick, "quick", false, "a smoke run: 1 run, 4 connections, 150ms loads; g, h and i for 1s at 200 requests/s")
	fs.BoolVar(&o.verbose, "v", false, "log each measurement (with the server's pid, for perf) to stderr")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write the harness's own CPU profile (load generator, sinks) to `file`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.settle, o.drain = 250*time.Millisecond, o.duration
	if o.quick {
		if !set["duration"] {
			o.duration = 150 * time.Millisecond
		}
		if !set["runs"] {
			o.runs = 1
		}
		if !set["conns"] {
			*conns = "4"
		}
		o.settle, o.drain = 20*time.Millisecond, 0
	}
	if !set["warmup"] {
		o.warmup = min(o.duration/5, 2*time.Second)
	}
	for f := range strings.SplitSeq(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-conns: %q is not a positive number", f)
		}
		o.conns = append(o.conns, n)
	}
	if o.runs < 1 || o.duration <= 0 {
		return o, errors.New("-runs and -duration must be positive")
	}
	return o, nil
}

// run is the whole harness; main only wires it to the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	logf := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(stderr, format+"\n", args...)
		}
	}
	var scs []scenario
	for _, sc := range scenarios() {
		if o.only == "" || strings.Contains(o.only, sc.Key) {
			scs = append(scs, sc)
		}
	}
	var dss []deliveryScenario
	for _, ds := range deliveryScenarios(o.quick) {
		if o.only == "" || strings.Contains(o.only, ds.Key) {
			dss = append(dss, ds)
		}
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "postbox-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	rep := &report{Started: time.Now().UTC(), Duration: o.duration, Warmup: o.warmup, Runs: o.runs, Admin: o.admin, Workers: o.workers,
		Command: "go run ./bench " + strings.Join(args, " "), Machine: describeMachine()}
	fmt.Fprintf(stderr, "building ./cmd/postbox and ./bench/ceiling ...\n")
	bins, err := build(ctx, root, tmp, o.postbox, !o.quick)
	if err != nil {
		return err
	}
	rep.Binary = binarySize{Built: bins.Size, Unstripped: bins.Unstripped, Prebuilt: o.postbox != ""}

	// samples[key][conns] lists one sample per run. Within a run the
	// scenarios at one connection count follow each other, so that the
	// ratios compare measurements taken close together.
	samples := map[string]map[int][]sample{}
	delivery := map[string][]deliverySample{}
	m := &measurer{opts: o, bins: bins, tmp: tmp, logf: logf}
	for i := range o.runs {
		for _, c := range o.conns {
			for _, sc := range scs {
				s, err := m.measure(ctx, sc, c)
				if err != nil {
					return fmt.Errorf("%s at %d conns: %w", sc.Key, c, err)
				}
				fmt.Fprintf(stderr, "run %d/%d, %2d conns, %s %-28s %7.0f req/s, p99 %s\n",
					i+1, o.runs, c, sc.Key, sc.Name, s.RPS, ms(s.P99))
				if samples[sc.Key] == nil {
					samples[sc.Key] = map[int][]sample{}
				}
				samples[sc.Key][c] = append(samples[sc.Key][c], s)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		for _, ds := range dss {
			s, err := m.measureDelivery(ctx, ds)
			if err != nil {
				return fmt.Errorf("%s: %w", ds.Key, err)
			}
			if r := s.Rates; r != nil {
				if bs := samples["b"][ds.Conns]; len(bs) > i && bs[i].RPS > 0 {
					r.VsB = r.ArrivalRate / bs[i].RPS
				}
			}
			fmt.Fprintf(stderr, "run %d/%d, %s %-40s %d accepted, %d arrived, send→arrival p99 %s\n",
				i+1, o.runs, ds.Key, ds.Name, s.Accepted, s.Arrived, arrivalText(s.ArrivalP99))
			delivery[ds.Key] = append(delivery[ds.Key], s)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	rep.Machine.LoadEnd = loadAverage()
	for _, sc := range scs {
		for _, c := range o.conns {
			rep.Rows = append(rep.Rows, aggregate(sc, c, samples[sc.Key][c], samples["a"][c], samples["b"][c], samples["e"][c]))
		}
	}
	for _, ds := range dss {
		rep.Delivery = append(rep.Delivery, aggregateDelivery(ds, delivery[ds.Key]))
	}
	rep.Targets = checkTargets(rep)
	printTable(stdout, rep)
	if o.jsonOut != "" {
		if err := writeJSON(o.jsonOut, rep); err != nil {
			return err
		}
	}
	if o.compare != "" {
		return printCompare(stdout, o.compare, rep)
	}
	return nil
}

// describeMachine reads the CPU model and load from /proc (Linux).
func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPU = strings.TrimSpace(value)
				break
			}
		}
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

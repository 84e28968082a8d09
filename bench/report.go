package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the whole result of a harness run, as written to -json.
type report struct {
	Started  time.Time     `json:"started"`
	Machine  machine       `json:"machine"`
	Command  string        `json:"command"`
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
	Runs     int           `json:"runs"`
	Admin    bool          `json:"admin"`   // whether postbox ran with its admin listener
	Workers  int           `json:"workers"` // postbox's queue workers; 0 means its default
	Binary   binarySize    `json:"binary"`
	Rows     []row         `json:"rows"`
	// Delivery are the delivery scenarios (g, h, i), one each.
	Delivery []deliveryRow `json:"delivery,omitempty"`
	Targets  []target      `json:"targets"`
}

// machine describes where the numbers come from.
type machine struct {
	CPUs      int    `json:"cpus"`
	CPU       string `json:"cpu"`
	Go        string `json:"go"`
	OS        string `json:"os"`
	LoadStart string `json:"load_start"` // /proc/loadavg when the run started
	LoadEnd   string `json:"load_end"`
}

// binarySize is postbox's binary size in bytes.
type binarySize struct {
	Built      int64 `json:"built"` // as released: CGO_ENABLED=0 -trimpath -ldflags="-s -w"
	Unstripped int64 `json:"unstripped,omitempty"`
	Prebuilt   bool  `json:"prebuilt,omitempty"` // given with -postbox, not built
}

// row is one scenario at one connection count: the median of its runs.
type row struct {
	Key   string `json:"scenario"`
	Name  string `json:"name"`
	Conns int    `json:"conns"`
	sample
	// VsCeiling is the median over runs of this row's req/s divided by the
	// ceiling's in the same run (ratios share a run's noise).
	VsCeiling float64 `json:"vs_ceiling"`
	// VsB is the same ratio against scenario b (for the exec scenarios).
	VsB float64 `json:"vs_b,omitempty"`
	// DrainVsE is the median over runs of the backlog's drain rate after
	// the load (Exec.DrainRate) divided by e's req/s at the same
	// connections in the same run: how fast the queue runs actions
	// once nothing else competes, against running them in the request.
	DrainVsE float64 `json:"drain_vs_e,omitempty"`
	// PerRun are the runs' own samples.
	PerRun []sample `json:"per_run"`
}

// target is one of the performance targets (docs/performance.md), checked.
type target struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Met   bool   `json:"met"`
}

func median[T cmp.Ordered](vs []T) T {
	var zero T
	if len(vs) == 0 {
		return zero
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianOf[T cmp.Ordered](samples []sample, f func(sample) T) T {
	vs := make([]T, len(samples))
	for i, s := range samples {
		vs[i] = f(s)
	}
	return median(vs)
}

// aggregate builds one row from a scenario's runs at one connection
// count; ceiling, b and e are the same runs of scenarios a, b and e (nil
// when absent).
func aggregate(sc scenario, conns int, runs, ceiling, b, e []sample) row {
	r := row{Key: sc.Key, Name: sc.Name, Conns: conns, PerRun: runs}
	r.RPS = medianOf(runs, func(s sample) float64 { return s.RPS })
	r.P50 = medianOf(runs, func(s sample) time.Duration { return s.P50 })
	r.P99 = medianOf(runs, func(s sample) time.Duration { return s.P99 })
	r.P999 = medianOf(runs, func(s sample) time.Duration { return s.P999 })
	r.RSSIdle = medianOf(runs, func(s sample) int64 { return s.RSSIdle })
	r.AnonIdle = medianOf(runs, func(s sample) int64 { return s.AnonIdle })
	r.RSSPeak = medianOf(runs, func(s sample) int64 { return s.RSSPeak })
	r.Ready = medianOf(runs, func(s sample) time.Duration { return s.Ready })
	r.ReadyRestart = medianOf(runs, func(s sample) time.Duration { return s.ReadyRestart })
	r.CPU = medianOf(runs, func(s sample) time.Duration { return s.CPU })
	r.Client = medianOf(runs, func(s sample) time.Duration { return s.Client })
	for _, s := range runs {
		r.OK += s.OK
		r.Non2xx += s.Non2xx
		r.Errors += s.Errors
		if r.FirstErr == "" {
			r.FirstErr = s.FirstErr
		}
	}
	ratio := func(base []sample) float64 {
		var rs []float64
		for i := range min(len(runs), len(base)) {
			if base[i].RPS > 0 {
				rs = append(rs, runs[i].RPS/base[i].RPS)
			}
		}
		return median(rs)
	}
	r.VsCeiling = ratio(ceiling)
	if sc.Exec {
		r.VsB = ratio(b)
	}
	if sc.Exec && len(runs) > 0 && runs[0].Exec != nil {
		x := &execStats{DrainLimit: runs[0].Exec.DrainLimit}
		x.Accepted = medianOf(runs, func(s sample) int { return s.Exec.Accepted })
		x.Done = medianOf(runs, func(s sample) int { return s.Exec.Done })
		x.Failed = medianOf(runs, func(s sample) int { return s.Exec.Failed })
		x.Rate = medianOf(runs, func(s sample) float64 { return s.Exec.Rate })
		x.Drain = medianOf(runs, func(s sample) time.Duration { return s.Exec.Drain })
		x.DoneAfter = medianOf(runs, func(s sample) int { return s.Exec.DoneAfter })
		x.DrainRate = medianOf(runs, func(s sample) float64 { return s.Exec.DrainRate })
		r.Exec = x
	}
	if sc.DrainRate {
		var rs []float64
		for i := range min(len(runs), len(e)) {
			if runs[i].Exec != nil && runs[i].Exec.DrainRate > 0 && e[i].RPS > 0 {
				rs = append(rs, runs[i].Exec.DrainRate/e[i].RPS)
			}
		}
		r.DrainVsE = median(rs)
	}
	return r
}

// checkTargets evaluates the performance targets at the largest connection
// count measured (64 in a full run).
func checkTargets(rep *report) []target {
	find := func(key string) *row {
		var best *row
		for i := range rep.Rows {
			if r := &rep.Rows[i]; r.Key == key && (best == nil || r.Conns > best.Conns) {
				best = r
			}
		}
		return best
	}
	var ts []target
	// A ratio is 0 when its base scenario was left out (-only).
	if b := find("b"); b != nil {
		if b.VsCeiling > 0 {
			ts = append(ts, target{fmt.Sprintf("(b) ≥ 0.5× ceiling at %d conns", b.Conns), ratioText(b.VsCeiling), b.VsCeiling >= 0.5})
		}
		ts = append(ts, target{fmt.Sprintf("(b) p99 ≤ 25ms at %d conns", b.Conns), ms(b.P99), b.P99 <= 25*time.Millisecond})
	}
	if d := find("d"); d != nil {
		if d.VsB > 0 {
			ts = append(ts, target{fmt.Sprintf("(d) ≥ 0.8× (b) at %d conns", d.Conns), ratioText(d.VsB), d.VsB >= 0.8})
		}
		ts = append(ts, target{fmt.Sprintf("(d) p99 ≤ 25ms at %d conns", d.Conns), ms(d.P99), d.P99 <= 25*time.Millisecond})
	}
	if f := find("f"); f != nil {
		if f.VsB > 0 {
			ts = append(ts, target{fmt.Sprintf("(f) ≥ 0.8× (b) at %d conns, a command running 1 s", f.Conns), ratioText(f.VsB), f.VsB >= 0.8})
		}
		ts = append(ts, target{fmt.Sprintf("(f) p99 ≤ 25ms at %d conns", f.Conns), ms(f.P99), f.P99 <= 25*time.Millisecond})
	}
	var idle, anon []int64
	var ready, restart []time.Duration
	for _, r := range rep.Rows {
		if r.Key == "a" {
			continue
		}
		for _, s := range r.PerRun {
			idle, anon = append(idle, s.RSSIdle), append(anon, s.AnonIdle)
			ready, restart = append(ready, s.Ready), append(restart, s.ReadyRestart)
		}
	}
	if len(idle) > 0 {
		ts = append(ts,
			target{"idle RSS ≤ 24 MiB (median of postbox starts)", mb(median(idle)) + " (anonymous: " + mb(median(anon)) + ")", median(idle) <= 24<<20},
			target{"start to ready ≤ 100ms (median; new store, restart)", ms(median(ready)) + ", " + ms(median(restart)),
				median(ready) <= 100*time.Millisecond && median(restart) <= 100*time.Millisecond})
	}
	what := "release build"
	if rep.Binary.Prebuilt {
		what = "as given with -postbox"
	}
	bin := fmt.Sprintf("%s %s", mb(rep.Binary.Built), what)
	if rep.Binary.Unstripped > 0 {
		bin += fmt.Sprintf(" (%s with a plain go build)", mb(rep.Binary.Unstripped))
	}
	ts = append(ts, target{"binary ≤ 30 MiB (as released: static, -trimpath -ldflags=\"-s -w\")", bin, rep.Binary.Built <= 30<<20})
	return append(ts, deliveryTargets(rep)...)
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

func readyText(r row) string {
	if r.ReadyRestart == 0 {
		return ms(r.Ready)
	}
	return ms(r.Ready) + " / " + ms(r.ReadyRestart)
}

func mb(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

func ratioText(f float64) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", f)
}

// printTable writes the report as a table.
func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "postbox benchmark: %d CPUs (%s), %s, %s; %d run(s) of %v after %v warm-up, median shown\n",
		rep.Machine.CPUs, rep.Machine.CPU, rep.Machine.Go, rep.Machine.OS, rep.Runs, rep.Duration, rep.Warmup)
	fmt.Fprintf(w, "load average: %s at start, %s at end\n\n", rep.Machine.LoadStart, rep.Machine.LoadEnd)
	width := len("scenario")
	for _, r := range rep.Rows {
		width = max(width, len(r.Key)+1+len(r.Name))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tconns\treq/s\t×ceiling\t×(b)\tp50\tp99\tp99.9\terrors\tCPU/req\tRSS idle (anon)\tRSS peak\tready new/restart\t\n", width, "scenario")
	for _, r := range rep.Rows {
		vsB := "-"
		if r.VsB > 0 {
			vsB = ratioText(r.VsB)
		}
		fmt.Fprintf(tw, "%-*s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", width, r.Key+" "+r.Name, r.Conns, r.RPS,
			ratioText(r.VsCeiling), vsB, ms(r.P50), ms(r.P99), ms(r.P999), r.Errors+r.Non2xx, us(r.CPU), mb(r.RSSIdle)+" ("+mb(r.AnonIdle)+")", mb(r.RSSPeak), readyText(r))
	}
	tw.Flush()
	fmt.Fprintln(w, "CPU/req: the server's CPU time (with its exec children) per answered request; the load")
	fmt.Fprintln(w, "generator's own is in the JSON (client_cpu_per_req).")
	fmt.Fprintln(w)
	for _, r := range rep.Rows {
		if e := r.Exec; e != nil {
			drain := fmt.Sprintf("backlog drained %s after the load", ms(e.Drain))
			switch {
			case e.Drain < 0 && e.DrainLimit == 0:
				drain = "backlog not waited for"
			case e.Drain < 0:
				drain = fmt.Sprintf("backlog not drained %v after the load (%d done by then)", e.DrainLimit, e.DoneAfter)
			}
			if e.DrainRate > 0 {
				drain += fmt.Sprintf("; after the load it ran %.0f actions/s", e.DrainRate)
				if r.DrainVsE > 0 {
					drain += fmt.Sprintf(" (%s e's sync rate)", ratioText(r.DrainVsE))
				}
			}
			fmt.Fprintf(w, "%s at %d conns: %d accepted, %d actions done when the load ended (%.0f/s), %d failed; %s\n",
				r.Key, r.Conns, e.Accepted, e.Done, e.Rate, e.Failed, drain)
		}
	}
	if len(rep.Delivery) > 0 {
		fmt.Fprintln(w)
		printDelivery(w, rep.Delivery)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets (docs/performance.md):")
	for _, t := range rep.Targets {
		mark := "MISS"
		if t.Met {
			mark = "met "
		}
		fmt.Fprintf(w, "  %s  %-54s %s\n", mark, t.Name, t.Value)
	}
}

// writeJSON writes rep to path.
func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printCompare prints, for each row also in the old report at path, the
// change of req/s, ratio to the ceiling and p99.
func printCompare(w io.Writer, path string, rep *report) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	var old report
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("compare: %s: %w", path, err)
	}
	fmt.Fprintf(w, "\nchange from %s (%s):\n", path, old.Started.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconns\treq/s old\treq/s new\tchange\t×ceiling old\t×ceiling new\tp99 old\tp99 new\tchange\t")
	for _, r := range rep.Rows {
		i := slices.IndexFunc(old.Rows, func(o row) bool { return o.Key == r.Key && o.Conns == r.Conns })
		if i < 0 {
			fmt.Fprintf(tw, "%s\t%d\t-\t%.0f\tnew\t-\t%s\t-\t%s\t\t\n", r.Key, r.Conns, r.RPS, ratioText(r.VsCeiling), ms(r.P99))
			continue
		}
		o := old.Rows[i]
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Key, r.Conns, o.RPS, r.RPS, change(o.RPS, r.RPS),
			ratioText(o.VsCeiling), ratioText(r.VsCeiling), ms(o.P99), ms(r.P99), change(float64(o.P99), float64(r.P99)))
	}
	tw.Flush()
	var notes []string
	if old.Binary.Built != rep.Binary.Built {
		notes = append(notes, fmt.Sprintf("binary %s → %s", mb(old.Binary.Built), mb(rep.Binary.Built)))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, strings.Join(notes, "; "))
	}
	return nil
}

func change(old, new float64) string {
	if old == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", (new-old)/old*100)
}

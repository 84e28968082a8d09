package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// deliveryRow is one delivery scenario: its median run, and every run.
type deliveryRow struct {
	Key  string `json:"scenario"`
	Name string `json:"name"`
	deliverySample
	// Run is which run (from 1) is shown: the median by send-to-arrival
	// p99 (g, h) or by deliveries per second against b (i).
	Run    int              `json:"median_run"`
	PerRun []deliverySample `json:"per_run"`
}

// aggregateDelivery picks the median run of a delivery scenario. Its
// numbers go together (a p99 and the counts it came from), so one run is
// shown rather than medians of each field.
func aggregateDelivery(ds deliveryScenario, runs []deliverySample) deliveryRow {
	r := deliveryRow{Key: ds.Key, Name: ds.Name, PerRun: runs}
	if len(runs) == 0 {
		return r
	}
	key := func(s deliverySample) float64 {
		if s.Rates != nil && s.Rates.VsB > 0 {
			return s.Rates.VsB // the target; runs differ in b as much as in i
		}
		if s.Rates != nil {
			return s.Rates.ArrivalRate
		}
		if s.ArrivalP99 < 0 {
			return math.Inf(1)
		}
		return float64(s.ArrivalP99)
	}
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ka, kb := key(runs[a]), key(runs[b])
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	i := order[len(order)/2]
	r.deliverySample, r.Run = runs[i], i+1
	return r
}

// arrivalText shows a send-to-arrival time; -1 means that deliveries
// that did not arrive decide the percentile.
func arrivalText(d time.Duration) string {
	if d < 0 {
		return "not arrived"
	}
	return ms(d)
}

// deliveryTargets checks the delivery scenarios' targets.
func deliveryTargets(rep *report) []target {
	var ts []target
	for _, r := range rep.Delivery {
		switch {
		case r.Rates != nil:
			x := r.Rates
			if x.VsB > 0 {
				ts = append(ts, target{fmt.Sprintf("(i) deliveries/s ≥ 0.5× (b) at %d conns", r.Conns),
					fmt.Sprintf("%.0f/s = %s (b); accepted %.0f/s", x.ArrivalRate, ratioText(x.VsB), x.AcceptedRate), x.VsB >= 0.5})
			}
			inWindow := x.AcceptedRate * x.Window.Seconds()
			slack := max(200, int(0.05*inWindow))
			ts = append(ts, target{"(i) the backlog (accepted − arrived) does not grow",
				fmt.Sprintf("%d at the window's start, %d at its end", x.BacklogStart, x.BacklogEnd), x.BacklogEnd-x.BacklogStart <= slack})
		default:
			label := "(" + r.Key + ")"
			if r.Hang == nil {
				ts = append(ts, target{fmt.Sprintf("%s every accepted delivery arrives ≤ 1s after the load", label),
					lastArrivalText(r.deliverySample), r.LastArrival >= 0 && r.LastArrival <= time.Second && r.Accepted > 0})
			}
			name := fmt.Sprintf("%s send→arrival p99 ≤ 100ms at %.0f/s, 20ms endpoint", label, r.Rate)
			if r.Hang != nil {
				name = fmt.Sprintf("%s healthy hook's p99 ≤ 100ms beside a hanging one", label)
			}
			ts = append(ts, target{name, arrivalText(r.ArrivalP99),
				r.ArrivalP99 >= 0 && r.ArrivalP99 <= 100*time.Millisecond && r.Accepted > 0})
			if h := r.Hang; h != nil {
				ts = append(ts, target{label + " the breaker opens for the hanging destination", breakerText(h), h.BreakerOpen > 0})
			}
		}
	}
	return ts
}

// breakerText says what the admin API showed of the hanging destination.
func breakerText(h *hangStats) string {
	v := h.Breaker
	if h.Opened > 0 || h.Failed > 0 {
		v += fmt.Sprintf(", opened %d times, %d calls failed", h.Opened, h.Failed)
	}
	if h.BreakerOpen > 0 {
		v += fmt.Sprintf(" (first seen opened %.1fs after the load started)", h.BreakerOpen.Seconds())
	}
	return v
}

// lastArrivalText says whether and when the last accepted delivery
// arrived.
func lastArrivalText(s deliverySample) string {
	if s.LastArrival < 0 {
		return fmt.Sprintf("%d of %d arrived within %v after the load", s.Arrived, s.Accepted, s.WaitLimit)
	}
	return fmt.Sprintf("%d of %d arrived, the last %.2fs after the load", s.Arrived, s.Accepted, s.LastArrival.Seconds())
}

// printDelivery writes the delivery scenarios' table and notes.
func printDelivery(w io.Writer, rows []deliveryRow) {
	fmt.Fprintln(w, "delivery: each accepted request is forwarded by an http action to a sink of the harness;")
	fmt.Fprintln(w, "send→arrival runs from the client's sending to the sink's receipt (one clock).")
	width := len("scenario")
	for _, r := range rows {
		width = max(width, len(r.Key)+1+len(r.Name))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tsent\tmissed\tlate p99/max\taccepted\tanswer p99\tarrived\tlast after load\tsend→arrival p50\tp99\tmax\tCPU/req srv/client\t\n", width, "scenario")
	for _, r := range rows {
		sent, missed, late, last := "-", "-", "-", "-"
		if r.Rate > 0 {
			sent, missed = fmt.Sprint(r.Slots-r.Missed), fmt.Sprint(r.Missed)
			late = ms(r.LateP99) + " / " + ms(r.LateMax)
			last = "not all"
			if r.LastArrival >= 0 {
				last = fmt.Sprintf("%.2fs", r.LastArrival.Seconds())
			}
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", width, r.Key+" "+r.Name, sent, missed, late,
			r.Accepted, ms(r.AnswerP99), r.Arrived, last, arrivalText(r.ArrivalP50), arrivalText(r.ArrivalP99),
			arrivalText(r.ArrivalMax), us(r.CPU)+" / "+us(r.Client))
	}
	tw.Flush()
	fmt.Fprintln(w, "late: how long after its slot the open-loop client sent a request; missed: slots not sent")
	fmt.Fprintln(w, "because 1,024 requests (postbox's max_inflight) were already waiting for answers.")
	for _, r := range rows {
		if r.Non2xx+r.Errors > 0 {
			fmt.Fprintf(w, "%s: %d non-2xx answers %v, %d errors (first: %s)\n", r.Key, r.Non2xx, r.Statuses, r.Errors, r.FirstErr)
		}
		if h := r.Hang; h != nil {
			fmt.Fprintf(w, "%s hanging hook: %.0f/s, %d sent (%d missed), %d accepted, %d calls reached its destination (at most %d held at once); breaker: %s\n",
				r.Key, h.Rate, h.Slots-h.Missed, h.Missed, h.Accepted, h.Calls, h.HeldPeak, breakerText(h))
		}
		if x := r.Rates; x != nil {
			vsB := "no (b) in this run"
			if x.VsB > 0 {
				vsB = ratioText(x.VsB) + " (b)"
			}
			fmt.Fprintf(w, "%s over the %.1fs window: accepted %.0f/s, arrived %.0f/s (%s); backlog %d → %d (accepted − arrived)\n",
				r.Key, x.Window.Seconds(), x.AcceptedRate, x.ArrivalRate, vsB, x.BacklogStart, x.BacklogEnd)
		}
	}
}

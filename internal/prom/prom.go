// Package prom is a small Prometheus client: counters, gauges read at scrape
// time and histograms with fixed buckets, gathered by a Registry and served
// in the text exposition format, version 0.0.4.
//
// It replaces github.com/prometheus/client_golang, which with protobuf,
// client_model, common and procfs cost postbox 2.2 MB of stripped binary and
// about 2.5 MB of idle RSS for features it does not use (native histograms,
// exemplars, push, the protobuf format). Counters and histograms are updated
// with atomics and their series found without a lock, because postbox
// updates them on every request.
package prom

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Type is the type of a metric family. The zero value is untyped.
type Type uint8

// The metric types the text format knows.
const (
	Untyped Type = iota
	CounterType
	GaugeType
	HistogramType
	SummaryType
)

// String is the type as the text format's # TYPE line spells it.
func (t Type) String() string {
	switch t {
	case CounterType:
		return "counter"
	case GaugeType:
		return "gauge"
	case HistogramType:
		return "histogram"
	case SummaryType:
		return "summary"
	}
	return "untyped"
}

// Family is one metric family as a scrape sees it: a name, its help text and
// type, the names of its labels and one Series per combination of label
// values. A family without series is not written.
type Family struct {
	Name   string
	Help   string
	Type   Type
	Labels []string // label names, written in this order
	Series []Series
}

// Series is one series of a Family. Counters, gauges and untyped metrics use
// Value; histograms use Buckets, Count and Sum; summaries use Quantiles,
// Count and Sum.
type Series struct {
	LabelValues []string // one per Family.Labels, in the same order
	Value       float64
	Buckets     []Bucket // by ascending upper bound, without +Inf (that is Count)
	Quantiles   []Quantile
	Count       uint64
	Sum         float64
}

// Bucket is a histogram bucket: the number of observations less than or
// equal to UpperBound (cumulative, as the text format has it).
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Quantile is one quantile of a summary.
type Quantile struct {
	Quantile float64
	Value    float64
}

// Collector is anything a Registry can scrape: it appends its families to
// dst and returns the result. Collect may be called concurrently; ctx ends
// with the scrape.
type Collector interface {
	Collect(ctx context.Context, dst []Family) []Family
}

// CollectorFunc adapts a function to a Collector.
type CollectorFunc func(ctx context.Context, dst []Family) []Family

// Collect calls f.
func (f CollectorFunc) Collect(ctx context.Context, dst []Family) []Family { return f(ctx, dst) }

// Registry is a set of collectors, gathered together at each scrape. The
// zero value is an empty registry ready to use.
type Registry struct {
	mu         sync.Mutex
	collectors []Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds collectors to r.
func (r *Registry) Register(cs ...Collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, cs...)
}

// Gather collects every registered collector and returns the families sorted
// by name, each one's series sorted by label values, so that two scrapes of
// the same state write the same text. Families without series are left out.
// A family that could not be written correctly (an invalid name, a name
// gathered twice, a series with the wrong number of label values) is left
// out too, and the error says which; the rest are still returned.
func (r *Registry) Gather(ctx context.Context) ([]Family, error) {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	var fams []Family
	for _, c := range cs {
		fams = c.Collect(ctx, fams)
	}
	fams = slices.DeleteFunc(fams, func(f Family) bool { return len(f.Series) == 0 })
	slices.SortStableFunc(fams, func(a, b Family) int { return cmp.Compare(a.Name, b.Name) })
	var errs []error
	out := fams[:0]
	for _, f := range fams {
		if err := f.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		if len(out) > 0 && out[len(out)-1].Name == f.Name {
			errs = append(errs, fmt.Errorf("prom: %s: gathered twice; the second is left out", f.Name))
			continue
		}
		slices.SortStableFunc(f.Series, func(a, b Series) int { return slices.Compare(a.LabelValues, b.LabelValues) })
		out = append(out, f)
	}
	return out, errors.Join(errs...)
}

// check reports whether f can be written as valid text.
func (f *Family) check() error {
	if !validName(f.Name) {
		return fmt.Errorf("prom: %q is not a valid metric name", f.Name)
	}
	for _, l := range f.Labels {
		if !validLabel(l) {
			return fmt.Errorf("prom: %s: %q is not a valid label name", f.Name, l)
		}
		if (f.Type == HistogramType && l == "le") || (f.Type == SummaryType && l == "quantile") {
			return fmt.Errorf("prom: %s: label %q is reserved for the %s's own series", f.Name, l, f.Type)
		}
	}
	for _, s := range f.Series {
		if len(s.LabelValues) != len(f.Labels) {
			return fmt.Errorf("prom: %s: a series has %d label values for %d labels", f.Name, len(s.LabelValues), len(f.Labels))
		}
	}
	return nil
}

// validName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}

// validLabel reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and does not
// start with the reserved "__".
func validLabel(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != "" && (len(s) < 2 || s[:2] != "__")
}

// mustDescribe panics unless name and labels are valid: the constructors
// call it so that a misspelt metric fails when the program starts, not at
// the first scrape.
func mustDescribe(name string, labels []string, reserved string) {
	if !validName(name) {
		panic(fmt.Sprintf("prom: %q is not a valid metric name", name))
	}
	for i, l := range labels {
		if !validLabel(l) || l == reserved {
			panic(fmt.Sprintf("prom: %s: %q is not a valid label name here", name, l))
		}
		if slices.Contains(labels[:i], l) {
			panic(fmt.Sprintf("prom: %s: label %q given twice", name, l))
		}
	}
}

package prom

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// Histogram is one histogram series: observations counted in buckets with
// fixed upper bounds, and their sum. Get one from a HistogramVec.
type Histogram struct {
	bounds []float64       // ascending, without +Inf; shared by the family
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // math.Float64bits of the sum
}

// Observe adds one observation of v.
func (h *Histogram) Observe(v float64) {
	// A linear search beats a binary one for the 10 to 20 buckets a
	// histogram has. The comparison is written so that NaN, which is not
	// <= anything, lands in the +Inf bucket as in client_golang.
	i := 0
	for i < len(h.bounds) && !(v <= h.bounds[i]) {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// series reads h. The count is the sum of the buckets, so _count always
// equals the +Inf bucket; the sum is read apart and may already include an
// observation the buckets do not (a scrape does not stop the world).
func (h *Histogram) series(values []string) Series {
	s := Series{LabelValues: values, Buckets: make([]Bucket, len(h.bounds))}
	for i, b := range h.bounds {
		s.Count += h.counts[i].Load()
		s.Buckets[i] = Bucket{UpperBound: b, Count: s.Count}
	}
	s.Count += h.counts[len(h.bounds)].Load()
	s.Sum = math.Float64frombits(h.sum.Load())
	return s
}

// HistogramVec is a histogram family: one Histogram per combination of label
// values, all with the same buckets, created the first time With asks for
// it. A HistogramVec without labels has its one series, empty, from the
// start.
type HistogramVec struct {
	help string
	vec  *vec[Histogram]
}

// NewHistogramVec returns a histogram family with the given bucket upper
// bounds; the +Inf bucket is implied. It panics when name or a label name
// is not valid (or is "le"), or when the bounds are not strictly ascending.
func NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	bounds := slices.Clone(buckets)
	if n := len(bounds); n > 0 && math.IsInf(bounds[n-1], +1) {
		bounds = bounds[:n-1]
	}
	for i, b := range bounds {
		if math.IsNaN(b) || i > 0 && b <= bounds[i-1] {
			panic(fmt.Sprintf("prom: %s: bucket bounds %v are not strictly ascending", name, buckets))
		}
	}
	return &HistogramVec{help: help, vec: newVec(name, labels, "le", func() *Histogram {
		return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	})}
}

// With returns the series for the label values, one per label, in the
// order NewHistogramVec was given the labels. It panics when the number of
// values is wrong.
func (h *HistogramVec) With(values ...string) *Histogram { return h.vec.with(values) }

// Collect appends the family.
func (h *HistogramVec) Collect(_ context.Context, dst []Family) []Family {
	f := Family{Name: h.vec.name, Help: h.help, Type: HistogramType, Labels: h.vec.labels}
	h.vec.each(func(values []string, h *Histogram) { f.Series = append(f.Series, h.series(values)) })
	return append(dst, f)
}

// ExponentialBuckets returns count bounds, the first start and each next
// one factor times the last, as client_golang's function of that name. It
// panics unless count ≥ 1, start > 0 and factor > 1.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	if count < 1 || start <= 0 || factor <= 1 {
		panic(fmt.Sprintf("prom: ExponentialBuckets(%v, %v, %d): want start > 0, factor > 1, count ≥ 1", start, factor, count))
	}
	b := make([]float64, count)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

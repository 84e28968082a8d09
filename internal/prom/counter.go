package prom

import (
	"context"
	"sync/atomic"
)

// Counter is one counter series: a count that only goes up. It counts whole
// events, which is all postbox counts. The zero value is a counter at 0,
// ready to use.
type Counter struct {
	n atomic.Uint64
}

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.n.Add(n) }

// Value is the count so far.
func (c *Counter) Value() uint64 { return c.n.Load() }

// CounterVec is a counter family: one Counter per combination of label
// values, created the first time With asks for it. A CounterVec without
// labels has its one series, at 0, from the start.
type CounterVec struct {
	help string
	vec  *vec[Counter]
}

// NewCounterVec returns a counter family. It panics when name or a label
// name is not valid in the text format.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{help: help, vec: newVec(name, labels, "", func() *Counter { return new(Counter) })}
}

// With returns the series for the label values, one per label, in the
// order NewCounterVec was given the labels. Keep the *Counter when the
// values are fixed: With hashes them and looks the series up (without a
// lock or an allocation). It panics when the number of values is wrong.
func (c *CounterVec) With(values ...string) *Counter { return c.vec.with(values) }

// Collect appends the family.
func (c *CounterVec) Collect(_ context.Context, dst []Family) []Family {
	f := Family{Name: c.vec.name, Help: c.help, Type: CounterType, Labels: c.vec.labels}
	c.vec.each(func(values []string, c *Counter) {
		f.Series = append(f.Series, Series{LabelValues: values, Value: float64(c.Value())})
	})
	return append(dst, f)
}

// GaugeFunc returns a collector of one unlabelled gauge whose value fn
// returns at each scrape; fn may be called concurrently. It panics when name
// is not valid in the text format.
func GaugeFunc(name, help string, fn func() float64) Collector {
	mustDescribe(name, nil, "")
	return CollectorFunc(func(_ context.Context, dst []Family) []Family {
		return append(dst, Family{Name: name, Help: help, Type: GaugeType, Series: []Series{{Value: fn()}}})
	})
}

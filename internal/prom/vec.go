package prom

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// vec holds the series of one family, one *T per combination of label
// values. Looking a series up takes no lock and allocates nothing: the
// series live in a map from a hash of the label values that is copied on
// write, and writes are rare (label values are bounded, so a vec stops
// growing soon after the process starts).
type vec[T any] struct {
	name   string
	labels []string
	newT   func() *T
	mu     sync.Mutex // serialises adding a series
	series atomic.Pointer[map[uint64]*entry[T]]
}

// entry is one series; entries whose label values hash alike are chained.
// An entry does not change once it is in the map.
type entry[T any] struct {
	values []string
	v      *T
	next   *entry[T]
}

func newVec[T any](name string, labels []string, reserved string, newT func() *T) *vec[T] {
	mustDescribe(name, labels, reserved)
	v := &vec[T]{name: name, labels: slices.Clone(labels), newT: newT}
	m := map[uint64]*entry[T]{}
	v.series.Store(&m)
	if len(labels) == 0 {
		// A family without labels has its one series from the start, so
		// that it reads 0 before anything happened.
		v.with(nil)
	}
	return v
}

// with returns the series for values, adding it the first time. It panics
// when the number of values is not the number of labels: that is a
// programming error that a test of the caller finds at once.
func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("prom: %s: %d label values for the %d labels %q", v.name, len(values), len(v.labels), v.labels))
	}
	h := hashValues(values)
	for e := (*v.series.Load())[h]; e != nil; e = e.next {
		if slices.Equal(e.values, values) {
			return e.v
		}
	}
	return v.add(h, values)
}

func (v *vec[T]) add(h uint64, values []string) *T {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := *v.series.Load()
	for e := old[h]; e != nil; e = e.next { // added since with looked
		if slices.Equal(e.values, values) {
			return e.v
		}
	}
	m := maps.Clone(old)
	// values is the caller's (often a variadic slice): keep a copy.
	e := &entry[T]{values: slices.Clone(values), v: v.newT(), next: old[h]}
	m[h] = e
	v.series.Store(&m)
	return e.v
}

// each calls fn for every series, in no particular order.
func (v *vec[T]) each(fn func(values []string, t *T)) {
	for _, e := range *v.series.Load() {
		for ; e != nil; e = e.next {
			fn(e.values, e.v)
		}
	}
}

// hashValues is FNV-1a over the values, each followed by 0xff (a byte that
// valid UTF-8 never contains), so that ("ab", "c") and ("a", "bc") differ.
func hashValues(values []string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, s := range values {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0xff
		h *= prime
	}
	return h
}

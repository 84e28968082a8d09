package prom

import (
	"strconv"
	"testing"
)

// The hot paths: postbox updates a counter and a histogram on every
// request, looking each series up by its label values.

func BenchmarkCounterInc(b *testing.B) {
	c := NewCounterVec("requests_total", "", "hook", "status").With("lamp", "200")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc()
	}
}

func BenchmarkCounterVecWithInc(b *testing.B) {
	c := NewCounterVec("requests_total", "", "hook", "status")
	b.ReportAllocs()
	for b.Loop() {
		c.With("lamp", "200").Inc()
	}
}

func BenchmarkCounterVecWithIncParallel(b *testing.B) {
	c := NewCounterVec("requests_total", "", "hook", "status")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.With("lamp", "200").Inc()
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewHistogramVec("request_duration_seconds", "", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "hook").With("lamp")
	b.ReportAllocs()
	for b.Loop() {
		h.Observe(0.003)
	}
}

func BenchmarkHistogramVecWithObserve(b *testing.B) {
	h := NewHistogramVec("request_duration_seconds", "", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "hook")
	b.ReportAllocs()
	for b.Loop() {
		h.With("lamp").Observe(0.003)
	}
}

func BenchmarkHistogramVecWithObserveParallel(b *testing.B) {
	h := NewHistogramVec("request_duration_seconds", "", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "hook")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.With("lamp").Observe(0.003)
		}
	})
}

// BenchmarkScrape gathers and writes a registry the size of postbox's:
// 20 hooks × 5 statuses of counters, 20 histograms of 14 buckets, and the
// Go and process collectors.
func BenchmarkScrape(b *testing.B) {
	r := NewRegistry()
	c := NewCounterVec("requests_total", "Requests.", "hook", "status")
	h := NewHistogramVec("request_duration_seconds", "Durations.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "hook")
	for i := range 20 {
		hook := "hook" + strconv.Itoa(i)
		for _, status := range []string{"200", "202", "401", "404", "503"} {
			c.With(hook, status).Inc()
		}
		h.With(hook).Observe(0.01)
	}
	r.Register(c, h, GoCollector(), ProcessCollector())
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		fams, err := r.Gather(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		buf = AppendText(buf[:0], fams)
	}
	b.SetBytes(int64(len(buf)))
}

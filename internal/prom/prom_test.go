package prom

import (
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestCountersCountPerLabelValues(t *testing.T) {
	requests := NewCounterVec("requests_total", "Requests answered.", "hook", "status")
	lamp := requests.With("lamp", "200")
	lamp.Inc()
	lamp.Add(2)
	requests.With("lamp", "401").Inc()
	requests.With("", "404").Inc()
	if got := requests.With("lamp", "200"); got != lamp {
		t.Error("With returned a new series for label values it has seen")
	}
	r := NewRegistry()
	r.Register(requests)
	s := gather(t, r)
	for key, want := range map[string]float64{
		`requests_total{hook="lamp",status="200"}`: 3,
		`requests_total{hook="lamp",status="401"}`: 1,
		`requests_total{hook="",status="404"}`:     1,
	} {
		if got := s.value(t, key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if len(s.samples) != 3 {
		t.Errorf("%d samples, want 3: %q", len(s.samples), s.keys)
	}
	if s.types["requests_total"] != "counter" || s.help["requests_total"] != "Requests answered." {
		t.Errorf("type %q, help %q", s.types["requests_total"], s.help["requests_total"])
	}
}

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogramVec("latency_seconds", "Latency.", []float64{0.1, 0.5, 1}, "kind")
	exec := h.With("exec")
	// A value equal to a bound is in that bucket (le is "less or equal");
	// NaN and +Inf are only in +Inf.
	for _, v := range []float64{0.05, 0.1, 0.3, 0.5, 0.9, 2, math.Inf(+1)} {
		exec.Observe(v)
	}
	h.With("http").Observe(0.25)
	r := NewRegistry()
	r.Register(h)
	s := gather(t, r)
	for key, want := range map[string]float64{
		`latency_seconds_bucket{kind="exec",le="0.1"}`:  2,
		`latency_seconds_bucket{kind="exec",le="0.5"}`:  4,
		`latency_seconds_bucket{kind="exec",le="1"}`:    5,
		`latency_seconds_bucket{kind="exec",le="+Inf"}`: 7,
		`latency_seconds_count{kind="exec"}`:            7,
		`latency_seconds_sum{kind="exec"}`:              math.Inf(+1),
		`latency_seconds_bucket{kind="http",le="0.1"}`:  0,
		`latency_seconds_bucket{kind="http",le="0.5"}`:  1,
		`latency_seconds_bucket{kind="http",le="1"}`:    1,
		`latency_seconds_bucket{kind="http",le="+Inf"}`: 1,
		`latency_seconds_count{kind="http"}`:            1,
		`latency_seconds_sum{kind="http"}`:              0.25,
	} {
		if got := s.value(t, key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if len(s.samples) != 12 {
		t.Errorf("%d samples, want 12: %q", len(s.samples), s.keys)
	}
	if s.types["latency_seconds"] != "histogram" {
		t.Errorf("type %q, want histogram", s.types["latency_seconds"])
	}

	h.With("nan").Observe(math.NaN())
	s = gather(t, r)
	if got := s.value(t, `latency_seconds_bucket{kind="nan",le="1"}`); got != 0 {
		t.Errorf("NaN counted in le=1: %v", got)
	}
	if got := s.value(t, `latency_seconds_bucket{kind="nan",le="+Inf"}`); got != 1 {
		t.Errorf("NaN not counted in +Inf: %v", got)
	}
	if got := s.value(t, `latency_seconds_sum{kind="nan"}`); !math.IsNaN(got) {
		t.Errorf("sum after NaN = %v, want NaN", got)
	}
}

func TestHistogramSumAddsUp(t *testing.T) {
	h := NewHistogramVec("size", "Sizes.", ExponentialBuckets(1, 2, 4))
	for _, v := range []float64{1, 2, 3, 100, 0.5} {
		h.With().Observe(v)
	}
	r := NewRegistry()
	r.Register(h)
	s := gather(t, r)
	if got := s.value(t, "size_sum"); got != 106.5 {
		t.Errorf("size_sum = %v, want 106.5", got)
	}
	for le, want := range map[string]float64{"1": 2, "2": 3, "4": 4, "8": 4, "+Inf": 5} {
		if got := s.value(t, `size_bucket{le="`+le+`"}`); got != want {
			t.Errorf("bucket le=%s = %v, want %v", le, got, want)
		}
	}
}

// TestText pins the exact text of a small registry: every line of it is a
// promise to Prometheus and to dashboards.
func TestText(t *testing.T) {
	r := NewRegistry()
	c := NewCounterVec("b_total", "B, with a \\ and a\nnewline.", "x")
	c.With("q\"uote\\back\nline").Inc()
	h := NewHistogramVec("a_seconds", "A.", []float64{0.00025, 1})
	h.With().Observe(0.0001)
	r.Register(c, h, GaugeFunc("c", "C.", func() float64 { return 1.5e7 }),
		NewCounterVec("unused_total", "A labelled family with no series yet.", "x"))
	want := `# HELP a_seconds A.
# TYPE a_seconds histogram
a_seconds_bucket{le="0.00025"} 1
a_seconds_bucket{le="1"} 1
a_seconds_bucket{le="+Inf"} 1
a_seconds_sum 0.0001
a_seconds_count 1
# HELP b_total B, with a \\ and a\nnewline.
# TYPE b_total counter
b_total{x="q\"uote\\back\nline"} 1
# HELP c C.
# TYPE c gauge
c 1.5e+07
`
	fams, err := r.Gather(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendText(nil, fams)); got != want {
		t.Errorf("text:\n%s\nwant:\n%s", got, want)
	}
	s := parseText(t, want)
	if got := s.help["b_total"]; got != "B, with a \\ and a\nnewline." {
		t.Errorf("help reads back as %q", got)
	}
	if got := s.value(t, `b_total{x="q\"uote\\back\nline"}`); got != 1 {
		t.Errorf("escaped series = %v", got)
	}
}

func TestFloats(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {-1, "-1"}, {0.5, "0.5"}, {0.00025, "0.00025"}, {1e-5, "1e-05"},
		{16912384, "1.6912384e+07"}, {math.MaxUint64, "1.8446744073709552e+19"},
		{math.Inf(+1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	} {
		if got := string(appendFloat(nil, tt.v)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestInvalidUTF8InALabelValueIsReplaced(t *testing.T) {
	c := NewCounterVec("x_total", "X.", "hook")
	c.With("bad\xffbyte").Inc()
	r := NewRegistry()
	r.Register(c)
	s := gather(t, r)
	if got := s.value(t, `x_total{hook="bad`+"\uFFFD"+`byte"}`); got != 1 {
		t.Errorf("series = %v", got)
	}
}

func TestOutputIsSortedAndDeterministic(t *testing.T) {
	r := NewRegistry()
	z := NewCounterVec("z_total", "Z.", "k")
	a := NewCounterVec("a_total", "A.", "k", "l")
	r.Register(z, a, GaugeFunc("m", "M.", func() float64 { return 2 }))
	for _, k := range []string{"delta", "alpha", "charlie", "bravo"} {
		z.With(k).Inc()
		a.With(k, "2").Inc()
		a.With(k, "1").Inc()
	}
	first := gather(t, r)
	if want := []string{"a_total", "m", "z_total"}; !slices.Equal(first.order, want) {
		t.Errorf("families in order %q, want %q", first.order, want)
	}
	want := []string{
		`a_total{k="alpha",l="1"}`, `a_total{k="alpha",l="2"}`, `a_total{k="bravo",l="1"}`, `a_total{k="bravo",l="2"}`,
		`a_total{k="charlie",l="1"}`, `a_total{k="charlie",l="2"}`, `a_total{k="delta",l="1"}`, `a_total{k="delta",l="2"}`,
		`m`,
		`z_total{k="alpha"}`, `z_total{k="bravo"}`, `z_total{k="charlie"}`, `z_total{k="delta"}`,
	}
	if !slices.Equal(first.keys, want) {
		t.Errorf("samples in order\n%q\nwant\n%q", first.keys, want)
	}
	for range 20 {
		if again := gather(t, r); !slices.Equal(again.keys, first.keys) {
			t.Fatalf("a second scrape wrote %q after %q", again.keys, first.keys)
		}
	}
}

func TestUnlabelledFamiliesReadZeroFromTheStart(t *testing.T) {
	r := NewRegistry()
	r.Register(NewCounterVec("dropped_total", "Dropped."), NewHistogramVec("commit_seconds", "Commits.", []float64{1}),
		NewCounterVec("labelled_total", "Labelled.", "hook"))
	s := gather(t, r)
	for key, want := range map[string]float64{
		"dropped_total": 0, `commit_seconds_bucket{le="1"}`: 0, `commit_seconds_bucket{le="+Inf"}`: 0,
		"commit_seconds_sum": 0, "commit_seconds_count": 0,
	} {
		if got := s.value(t, key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if _, ok := s.types["labelled_total"]; ok {
		t.Error("a labelled family without series is written (client_golang leaves it out)")
	}
}

func TestGatherLeavesOutWhatItCannotWrite(t *testing.T) {
	for _, tt := range []struct {
		name string
		bad  Family
		err  string
	}{
		{"an invalid metric name", Family{Name: "bad-name", Series: []Series{{}}}, `"bad-name" is not a valid metric name`},
		{"an invalid label name", Family{Name: "x", Labels: []string{"a-b"}, Series: []Series{{LabelValues: []string{"1"}}}}, `"a-b" is not a valid label name`},
		{"a reserved label name", Family{Name: "x", Labels: []string{"__name"}, Series: []Series{{LabelValues: []string{"1"}}}}, `"__name" is not a valid label name`},
		{"le on a histogram", Family{Name: "x", Type: HistogramType, Labels: []string{"le"}, Series: []Series{{LabelValues: []string{"1"}}}}, `label "le" is reserved`},
		{"quantile on a summary", Family{Name: "x", Type: SummaryType, Labels: []string{"quantile"}, Series: []Series{{LabelValues: []string{"1"}}}}, `label "quantile" is reserved`},
		{"too few label values", Family{Name: "x", Labels: []string{"a", "b"}, Series: []Series{{LabelValues: []string{"1"}}}}, "1 label values for 2 labels"},
		{"a name gathered twice", Family{Name: "good", Type: GaugeType, Series: []Series{{Value: 7}}}, "good: gathered twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			r.Register(GaugeFunc("good", "Good.", func() float64 { return 1 }),
				CollectorFunc(func(_ context.Context, dst []Family) []Family { return append(dst, tt.bad) }))
			fams, err := r.Gather(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want one saying %q", err, tt.err)
			}
			s := parseText(t, string(AppendText(nil, fams)))
			if got := s.value(t, "good"); got != 1 {
				t.Errorf("good = %v, want 1 (the valid family, not the bad one)", got)
			}
			if len(s.samples) != 1 {
				t.Errorf("samples %q, want only good", s.keys)
			}
		})
	}
}

func TestConstructorsRefuseMistakes(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"an invalid metric name", func() { NewCounterVec("1abc", "") }},
		{"an empty metric name", func() { NewCounterVec("", "") }},
		{"an invalid label name", func() { NewCounterVec("x", "", "a.b") }},
		{"a label given twice", func() { NewCounterVec("x", "", "a", "a") }},
		{"le on a histogram", func() { NewHistogramVec("x", "", []float64{1}, "le") }},
		{"buckets out of order", func() { NewHistogramVec("x", "", []float64{1, 0.5}) }},
		{"a bucket given twice", func() { NewHistogramVec("x", "", []float64{1, 1}) }},
		{"a NaN bucket", func() { NewHistogramVec("x", "", []float64{math.NaN()}) }},
		{"too few label values", func() { NewCounterVec("x", "", "a", "b").With("1") }},
		{"too many label values", func() { NewHistogramVec("x", "", nil, "a").With("1", "2") }},
		{"an invalid gauge name", func() { GaugeFunc("x y", "", func() float64 { return 0 }) }},
		{"exponential buckets with factor 1", func() { ExponentialBuckets(1, 1, 3) }},
		{"exponential buckets from 0", func() { ExponentialBuckets(0, 2, 3) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("did not panic")
				}
			}()
			tt.f()
		})
	}
}

func TestExponentialBuckets(t *testing.T) {
	got := ExponentialBuckets(0.00025, 2, 14)
	want := []float64{0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAnInfBucketIsTheImpliedOne(t *testing.T) {
	h := NewHistogramVec("x", "X.", []float64{1, math.Inf(+1)})
	h.With().Observe(5)
	r := NewRegistry()
	r.Register(h)
	s := gather(t, r)
	if got := s.value(t, `x_bucket{le="+Inf"}`); got != 1 {
		t.Errorf("+Inf bucket = %v", got)
	}
	if len(s.samples) != 4 { // le=1, le=+Inf, _sum, _count
		t.Errorf("samples %q: +Inf written twice?", s.keys)
	}
}

// TestConcurrentUpdatesAreAllCounted runs updates, new series and scrapes at
// once; with -race it also checks that the hot paths need no lock.
func TestConcurrentUpdatesAreAllCounted(t *testing.T) {
	c := NewCounterVec("c_total", "C.", "k")
	h := NewHistogramVec("h", "H.", []float64{1, 2}, "k")
	r := NewRegistry()
	r.Register(c, h)
	const workers, each = 8, 2000
	keys := []string{"a", "b", "c", "d", "e"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				k := keys[(w+i)%len(keys)]
				c.With(k).Inc()
				h.With(k).Observe(1.5)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if _, err := r.Gather(t.Context()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	s := gather(t, r)
	var counted, observed float64
	for _, k := range keys {
		counted += s.value(t, `c_total{k="`+k+`"}`)
		observed += s.value(t, `h_count{k="`+k+`"}`)
		if b1, b2 := s.value(t, `h_bucket{k="`+k+`",le="1"}`), s.value(t, `h_bucket{k="`+k+`",le="2"}`); b1 != 0 || b2 != s.value(t, `h_count{k="`+k+`"}`) {
			t.Errorf("%s: le=1 %v, le=2 %v", k, b1, b2)
		}
	}
	if counted != workers*each || observed != workers*each {
		t.Errorf("counted %v, observed %v, want %d each", counted, observed, workers*each)
	}
	if sum := s.value(t, `h_sum{k="a"}`); sum != 1.5*s.value(t, `h_count{k="a"}`) {
		t.Errorf("h_sum{k=a} = %v: an observation was lost from the sum", sum)
	}
}

func TestHashCollisionsKeepSeriesApart(t *testing.T) {
	// Two values with one hash are hard to find for FNV-64, so force the
	// chain by adding both under the same hash by hand.
	c := NewCounterVec("x_total", "X.", "k")
	h := hashValues([]string{"a"})
	c.vec.add(h, []string{"a"}).Inc()
	c.vec.add(h, []string{"b"}).Add(5)
	c.vec.add(h, []string{"a"}).Inc()
	if got := c.vec.add(h, []string{"b"}).Value(); got != 5 {
		t.Errorf("b = %d, want 5", got)
	}
	if got := c.With("a").Value(); got != 2 {
		t.Errorf("a = %d, want 2", got)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	c := NewCounterVec("hits_total", "Hits.", "path")
	c.With("/").Add(42)
	r.Register(c)
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, tt := range []struct {
		name, acceptEncoding string
		gzipped              bool
	}{
		{"plain when the client takes no gzip", "", false},
		{"gzipped when the client takes it", "gzip", true},
		{"gzipped when gzip is one of several", "deflate, gzip;q=0.8", true},
		{"plain when gzip has quality 0", "gzip;q=0", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", tt.acceptEncoding)
			} else {
				// Stop the client from asking for gzip by itself.
				req.Header.Set("Accept-Encoding", "identity")
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if got := res.Header.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			body := io.Reader(res.Body)
			if gz := res.Header.Get("Content-Encoding") == "gzip"; gz != tt.gzipped {
				t.Fatalf("Content-Encoding %q, want gzipped %v", res.Header.Get("Content-Encoding"), tt.gzipped)
			} else if gz {
				if body, err = gzip.NewReader(res.Body); err != nil {
					t.Fatal(err)
				}
			}
			text, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if got := parseText(t, string(text)).value(t, `hits_total{path="/"}`); got != 42 {
				t.Errorf("hits_total = %v", got)
			}
		})
	}
}

func TestHandlerAnswers500WhenNothingCanBeGathered(t *testing.T) {
	r := NewRegistry()
	r.Register(CollectorFunc(func(_ context.Context, dst []Family) []Family {
		return append(dst, Family{Name: "bad name", Series: []Series{{}}})
	}))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "not a valid metric name") {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
}

func FuzzLabelValueReadsBack(f *testing.F) {
	for _, s := range []string{"", "lamp", `a"b`, `a\b`, "a\nb", `\n`, `\"`, "\xff", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		c := NewCounterVec("x_total", "X.", "v")
		c.With(value).Inc()
		r := NewRegistry()
		r.Register(c)
		s := gather(t, r)
		// splitSample re-writes label values with %q.
		want := `x_total{v=` + strconv.Quote(strings.ToValidUTF8(value, "\uFFFD")) + `}`
		if got := s.value(t, want); got != 1 {
			t.Errorf("%s = %v", want, got)
		}
	})
}

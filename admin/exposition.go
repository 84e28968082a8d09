package admin

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	vm "github.com/VictoriaMetrics/metrics"
)

// contentType is the media type of the text exposition format that
// /metrics writes.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// vec holds one family's series by their label values. The client finds a
// series by its whole name in the text format; vec formats that name (and
// takes the client's lock) only the first time a combination of values is
// seen, so that counting a request allocates nothing.
type vec[K comparable, M any] struct {
	series sync.Map // K → *M
	create func(K) *M
}

// with returns the series for k, creating it in the client the first time.
func (v *vec[K, M]) with(k K) *M {
	if m, ok := v.series.Load(k); ok {
		return m.(*M)
	}
	// The client's GetOrCreate functions are idempotent: two callers that
	// race here get the same series.
	m, _ := v.series.LoadOrStore(k, v.create(k))
	return m.(*M)
}

// counterVec is a counter family in set whose series are named by name.
func counterVec[K comparable](set *vm.Set, name func(K) string) *vec[K, vm.Counter] {
	return &vec[K, vm.Counter]{create: func(k K) *vm.Counter { return set.GetOrCreateCounter(name(k)) }}
}

// histogramVec is a histogram family in set with the given bucket upper
// bounds, written as Prometheus histograms (_bucket{le=...}, _sum, _count).
func histogramVec[K comparable](set *vm.Set, buckets []float64, name func(K) string) *vec[K, vm.PrometheusHistogram] {
	return &vec[K, vm.PrometheusHistogram]{create: func(k K) *vm.PrometheusHistogram {
		return set.GetOrCreatePrometheusHistogramExt(name(k), buckets)
	}}
}

// seriesName is a series' name in the text format: the family, then each
// label with its value, escaped. The labels and values alternate in kv.
func seriesName(family string, kv ...string) string {
	var b strings.Builder
	b.WriteString(family)
	if len(kv) == 0 {
		return b.String()
	}
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		writeEscaped(&b, kv[i+1], true)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// writeEscaped writes s with backslash and newline escaped, and double
// quotes too in a label value, as the text format asks. Invalid UTF-8
// becomes U+FFFD: one bad byte must not make Prometheus reject the scrape.
func writeEscaped(b *strings.Builder, s string, quote bool) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
}

// sample is one series of a family read at scrape time.
type sample struct {
	values []string // one per label of the family
	v      float64
}

// writeFamily writes a family read at scrape time, of type typ (gauge or
// counter): # HELP, # TYPE and one line per series, sorted by label values
// so that two scrapes of the same state read the same. A family without
// series is left out.
func writeFamily(w *bytes.Buffer, typ, name string, labels []string, series []sample) {
	if len(series) == 0 {
		return
	}
	slices.SortStableFunc(series, func(a, b sample) int { return slices.Compare(a.values, b.values) })
	w.WriteString("# HELP " + name + " " + help(name) + "\n# TYPE " + name + " " + typ + "\n")
	kv := make([]string, 2*len(labels))
	for _, s := range series {
		for i, l := range labels {
			kv[2*i], kv[2*i+1] = l, s.values[i]
		}
		w.WriteString(seriesName(name, kv...))
		w.WriteByte(' ')
		w.WriteString(strconv.FormatFloat(s.v, 'g', -1, 64))
		w.WriteByte('\n')
	}
}

// help is the help text of a family, escaped for a # HELP line.
func help(name string) string {
	var b strings.Builder
	writeEscaped(&b, helpTexts[name], false)
	return b.String()
}

// withHelp adds each postbox family's help text to the # HELP line that
// the client writes without one.
func withHelp(text []byte) []byte {
	out := make([]byte, 0, len(text)+4<<10)
	for line := range bytes.Lines(text) {
		if name, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok {
			name = bytes.TrimSuffix(name, []byte("\n"))
			if _, known := helpTexts[string(name)]; known && bytes.IndexByte(name, ' ') < 0 {
				out = append(out, "# HELP "...)
				out = append(out, name...)
				out = append(out, ' ')
				out = append(out, help(string(name))...)
				out = append(out, '\n')
				continue
			}
		}
		out = append(out, line...)
	}
	return out
}

// ServeHTTP writes every series in the text exposition format, gzipped
// when the client accepts it: the client's series, those read at scrape
// time (from the store and the queue), then the Go runtime's and the
// process's.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The scrape-time families first: they count their own failures in
	// the set, and this scrape should show the count.
	var scraped bytes.Buffer
	for _, scrape := range m.scrapers {
		scrape(r.Context(), &scraped)
	}
	var text bytes.Buffer
	text.Grow(48 << 10)
	m.set.WritePrometheus(&text)
	text.Write(scraped.Bytes())
	vm.WriteProcessMetrics(&text)
	vm.WriteFDMetrics(&text) // process_open_fds and process_max_fds
	body := withHelp(text.Bytes())

	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_, _ = gz.Write(body)
	_ = gz.Close()
}

// scraper writes families read at scrape time; ctx ends with the scrape.
type scraper func(ctx context.Context, w *bytes.Buffer)

// acceptsGzip reports whether an Accept-Encoding header lists gzip with a
// quality above zero.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && f > 0
	}
	return false
}

package prom

import (
	"compress/gzip"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ContentType is the media type of the text exposition format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// AppendText appends fams to b in the text exposition format, version
// 0.0.4: for each family a # HELP line (when it has help), a # TYPE line and
// one line per sample; histograms as _bucket lines up to le="+Inf", then
// _sum and _count; summaries as quantile lines, then _sum and _count.
// Families and series are written in the order given (Gather sorts them).
func AppendText(b []byte, fams []Family) []byte {
	for i := range fams {
		f := &fams[i]
		if f.Help != "" {
			b = append(b, "# HELP "...)
			b = append(b, f.Name...)
			b = append(b, ' ')
			b = appendEscaped(b, f.Help, false)
			b = append(b, '\n')
		}
		b = append(b, "# TYPE "...)
		b = append(b, f.Name...)
		b = append(b, ' ')
		b = append(b, f.Type.String()...)
		b = append(b, '\n')
		for j := range f.Series {
			s := &f.Series[j]
			switch f.Type {
			case HistogramType:
				for _, bk := range s.Buckets {
					b = appendSample(b, f.Name, "_bucket", f.Labels, s.LabelValues, "le", bk.UpperBound, float64(bk.Count))
				}
				b = appendSample(b, f.Name, "_bucket", f.Labels, s.LabelValues, "le", math.Inf(+1), float64(s.Count))
				b = appendSample(b, f.Name, "_sum", f.Labels, s.LabelValues, "", 0, s.Sum)
				b = appendSample(b, f.Name, "_count", f.Labels, s.LabelValues, "", 0, float64(s.Count))
			case SummaryType:
				for _, q := range s.Quantiles {
					b = appendSample(b, f.Name, "", f.Labels, s.LabelValues, "quantile", q.Quantile, q.Value)
				}
				b = appendSample(b, f.Name, "_sum", f.Labels, s.LabelValues, "", 0, s.Sum)
				b = appendSample(b, f.Name, "_count", f.Labels, s.LabelValues, "", 0, float64(s.Count))
			default:
				b = appendSample(b, f.Name, "", f.Labels, s.LabelValues, "", 0, s.Value)
			}
		}
	}
	return b
}

// appendSample appends one sample line: name+suffix, the labels (and extra,
// when set, with the value extraValue) and v.
func appendSample(b []byte, name, suffix string, labels, values []string, extra string, extraValue, v float64) []byte {
	b = append(b, name...)
	b = append(b, suffix...)
	if len(labels) > 0 || extra != "" {
		b = append(b, '{')
		for i, l := range labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l...)
			b = append(b, `="`...)
			b = appendEscaped(b, values[i], true)
			b = append(b, '"')
		}
		if extra != "" {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = append(b, extra...)
			b = append(b, `="`...)
			b = appendFloat(b, extraValue)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendEscaped appends s with backslash and newline escaped, and with
// double quotes escaped too in a label value. Invalid UTF-8 becomes U+FFFD:
// one bad byte in a label value must not make Prometheus reject the scrape.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends v as the Go Prometheus client writes it: the shortest
// representation that reads back exactly, and +Inf, -Inf, NaN.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// ServeHTTP gathers r and answers in the text format, gzipped when the
// client accepts it. Like client_golang's ContinueOnError, a family that
// could not be gathered is left out and the rest served; only when nothing
// could be gathered does it answer 500 with the error.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	fams, err := r.Gather(req.Context())
	if err != nil && len(fams) == 0 {
		http.Error(w, "gather metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body := AppendText(make([]byte, 0, 16<<10), fams)
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(req.Header.Get("Accept-Encoding")) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_, _ = gz.Write(body)
	_ = gz.Close()
}

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

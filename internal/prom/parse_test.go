package prom

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// scrape is a text exposition read back line by line: what the tests
// assert on, so that they check the text a Prometheus server would read
// rather than this package's own structures.
type scrape struct {
	help    map[string]string  // family -> help, unescaped
	types   map[string]string  // family -> type
	order   []string           // families in the order written
	samples map[string]float64 // `name{l="v",...}` (labels as written, re-quoted) -> value
	keys    []string           // samples in the order written
}

// parseText reads a text exposition as Prometheus does, and fails the test
// on anything Prometheus would reject: a sample before its # TYPE, a family
// written in two places, a malformed line, a duplicate sample.
func parseText(t testing.TB, text string) *scrape {
	t.Helper()
	s := &scrape{help: map[string]string{}, types: map[string]string{}, samples: map[string]float64{}}
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatalf("the text does not end with a newline: %q", text)
	}
	current := ""
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s", n+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			if _, dup := s.help[name]; dup {
				fail("second # HELP for %s", name)
			}
			u, err := unescape(help, false)
			if err != nil {
				fail("%v", err)
			}
			s.help[name] = u
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if _, dup := s.types[name]; dup {
				fail("second # TYPE for %s: the family is written in two places", name)
			}
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				fail("unknown type %q", typ)
			}
			s.types[name] = typ
			s.order = append(s.order, name)
			current = name
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			fail("a comment or blank line the format does not use here")
		}
		name, labels, value := splitSample(t, line)
		family := name
		if typ := s.types[current]; typ == "histogram" || typ == "summary" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if strings.TrimSuffix(name, suffix) == current {
					family = current
				}
			}
		}
		if family != current {
			fail("sample of %s under # TYPE %s", name, current)
		}
		v, err := parseValue(value)
		if err != nil {
			fail("%v", err)
		}
		key := name + labels
		if _, dup := s.samples[key]; dup {
			fail("duplicate sample %s", key)
		}
		s.samples[key] = v
		s.keys = append(s.keys, key)
	}
	return s
}

// splitSample splits `name{a="x",b="y"} 1` into the name, the labels
// re-written with unescaped-then-quoted values (`{a="x",b="y"}`), and the
// value text.
func splitSample(t testing.TB, line string) (name, labels, value string) {
	t.Helper()
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		t.Fatalf("%q: no metric name", line)
	}
	name, rest := line[:i], line[i:]
	if !validName(name) {
		t.Fatalf("%q: invalid metric name %q", line, name)
	}
	if rest[0] == '{' {
		var b strings.Builder
		b.WriteByte('{')
		rest = rest[1:]
		for first := true; ; first = false {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			if !first {
				if !strings.HasPrefix(rest, ",") {
					t.Fatalf("%q: labels not separated by commas", line)
				}
				rest = rest[1:]
				b.WriteByte(',')
			}
			l, r, ok := strings.Cut(rest, `="`)
			if !ok || !validLabel(l) {
				t.Fatalf("%q: bad label at %q", line, rest)
			}
			// The value ends at the first " not escaped by a backslash.
			j := 0
			for ; j < len(r) && r[j] != '"'; j++ {
				if r[j] == '\\' {
					j++
				}
			}
			if j >= len(r) {
				t.Fatalf("%q: unterminated label value", line)
			}
			v, err := unescape(r[:j], true)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			fmt.Fprintf(&b, "%s=%q", l, v)
			rest = r[j+1:]
		}
		b.WriteByte('}')
		labels = b.String()
	}
	value, ok := strings.CutPrefix(rest, " ")
	if !ok || value == "" || strings.Contains(value, " ") {
		t.Fatalf("%q: want exactly one space and a value (no timestamp) after the labels", line)
	}
	return name, labels, value
}

func unescape(s string, quoted bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' && quoted {
			return "", fmt.Errorf("unescaped quote in %q", s)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("trailing backslash in %q", s)
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !quoted {
				return "", fmt.Errorf(`\" in help text %q`, s)
			}
			b.WriteByte('"')
		default:
			return "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}

func parseValue(s string) (float64, error) {
	switch s {
	case "+Inf", "-Inf", "NaN":
		return strconv.ParseFloat(s, 64)
	}
	if strings.ContainsAny(s, "iInN") { // Go would also read "inf", "Infinity"
		return 0, fmt.Errorf("value %q is not how the format spells it", s)
	}
	return strconv.ParseFloat(s, 64)
}

// value returns the sample's value and fails the test when it is missing.
func (s *scrape) value(t testing.TB, key string) float64 {
	t.Helper()
	v, ok := s.samples[key]
	if !ok {
		t.Fatalf("no sample %s; have %q", key, s.keys)
	}
	return v
}

// gather scrapes r and parses the text.
func gather(t testing.TB, r *Registry) *scrape {
	t.Helper()
	fams, err := r.Gather(t.Context())
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return parseText(t, string(AppendText(nil, fams)))
}

func TestParseTextRejectsWhatPrometheusRejects(t *testing.T) {
	for _, tt := range []struct{ name, text string }{
		{"a sample before its type", "a 1\n"},
		{"a family written twice", "# TYPE a counter\na 1\n# TYPE b counter\nb 1\n# TYPE a counter\n"},
		{"a timestamp", "# TYPE a counter\na 1 1700000000\n"},
		{"an unterminated label value", "# TYPE a counter\na{x=\"y} 1\n"},
		{"an unescaped quote", "# TYPE a counter\na{x=\"y\"z\"} 1\n"},
		{"a duplicate sample", "# TYPE a counter\na{x=\"y\"} 1\na{x=\"y\"} 2\n"},
		{"Go's spelling of infinity", "# TYPE a gauge\na Inf\n"},
		{"no final newline", "# TYPE a gauge\na 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fatalRecorder{TB: t}
			func() {
				defer func() { _ = recover() }()
				parseText(ft, tt.text)
			}()
			if !ft.failed {
				t.Errorf("parseText accepted %q", tt.text)
			}
		})
	}
}

// fatalRecorder records a Fatalf instead of ending the test, so that the
// parser's own checks can be tested.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}

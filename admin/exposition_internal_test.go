package admin

import (
	"strings"
	"testing"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// FuzzSeriesName checks that any two label values make a series name that
// the client accepts and that Prometheus's parser reads back as the same
// values (invalid UTF-8 as U+FFFD).
func FuzzSeriesName(f *testing.F) {
	for _, v := range []string{"", "lamp", `a"b`, `a\`, `\"`, "a\nb", "\xff", `x} 1` + "\n# TYPE y counter", "é\r\t"} {
		f.Add(v, "ok")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		name := seriesName("postbox_test_total", "hook", a, "outcome", b)
		if err := vm.ValidateMetric(name); err != nil {
			t.Fatalf("the client refuses %q: %v", name, err)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(name + " 1\n"))
		if err != nil {
			t.Fatalf("Prometheus's parser refuses %q: %v", name, err)
		}
		ms := fams["postbox_test_total"].GetMetric()
		if len(fams) != 1 || len(ms) != 1 {
			t.Fatalf("%q parsed as %v", name, fams)
		}
		got := map[string]string{}
		for _, l := range ms[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if want := strings.ToValidUTF8(a, "\uFFFD"); got["hook"] != want {
			t.Errorf("hook %q read back as %q from %q", want, got["hook"], name)
		}
		if want := strings.ToValidUTF8(b, "\uFFFD"); got["outcome"] != want {
			t.Errorf("outcome %q read back as %q from %q", want, got["outcome"], name)
		}
	})
}

package testenv

import (
	"runtime"
	"testing"
)

// recorder is a testing.TB that notes whether it was skipped or failed.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               { r.TB.Helper() }
func (r *recorder) Skipf(string, ...any)  { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// run calls f with r in a goroutine of its own, which Skipf and Fatalf end
// as they end a test's.
func (r *recorder) run(f func(testing.TB)) *recorder {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// A test that lacks something of the environment skips, unless CI asked
// for everything: then it fails.
func TestAnEnvironmentSkipFailsWhenServicesAreRequired(t *testing.T) {
	for _, tt := range []struct {
		env        string
		skip, fail bool
	}{
		{"", true, false},
		{"1", false, true},
	} {
		t.Setenv("POSTBOX_REQUIRE_SERVICES", tt.env)
		r := (&recorder{TB: t}).run(func(tb testing.TB) { Skip(tb, "curl is not installed") })
		if r.skipped != tt.skip || r.failed != tt.fail {
			t.Errorf("POSTBOX_REQUIRE_SERVICES=%q: skipped %v, failed %v; want %v, %v", tt.env, r.skipped, r.failed, tt.skip, tt.fail)
		}
		r = (&recorder{TB: t}).run(func(tb testing.TB) { Require(tb, "nothing", "127.0.0.1:1") })
		if r.skipped != tt.skip || r.failed != tt.fail {
			t.Errorf("Require, POSTBOX_REQUIRE_SERVICES=%q: skipped %v, failed %v; want %v, %v", tt.env, r.skipped, r.failed, tt.skip, tt.fail)
		}
	}
}

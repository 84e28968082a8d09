package config_test

import (
	"slices"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
)

func TestDestinationsAreParsed(t *testing.T) {
	cfg := parse(t, `
io_workers: 300
destinations:
  "*": {concurrency: 32}
  https://API.example.com/ignored/path: {rate: 600/m, burst: 5, breaker: {failures: 3, cooldown: 2s, max_cooldown: 1m}}
  tcp://127.0.0.1:1883: {breaker: {failures: 0}}
hooks:
  - id: a
`)
	if cfg.IOWorkers != 300 {
		t.Errorf("IOWorkers = %d, want 300", cfg.IOWorkers)
	}
	want := map[string]config.Destination{
		"*":                           {Concurrency: 32},
		"https://api.example.com:443": {Rate: 10, Burst: 5, Failures: 3, Cooldown: 2 * time.Second, MaxCooldown: time.Minute},
		"tcp://127.0.0.1:1883":        {Failures: -1},
	}
	for name, w := range want {
		if got, ok := cfg.Destinations[name]; !ok || got != w {
			t.Errorf("destinations[%q] = %+v (present %v), want %+v; all: %v", name, got, ok, w, cfg.Destinations)
		}
	}
}

func TestIOWorkersDefault(t *testing.T) {
	if cfg := parse(t, "hooks:\n  - id: a\n"); cfg.IOWorkers != config.DefaultIOWorkers {
		t.Errorf("IOWorkers = %d, want %d", cfg.IOWorkers, config.DefaultIOWorkers)
	}
}

func TestDestinationProblems(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"a rate without a known unit", "destinations:\n  \"*\": {rate: 5/d}\nhooks:\n  - id: a\n",
			`p.yaml:2: destinations.*.rate: rate "5/d": the unit after / must be s, m or h`},
		{"a rate that is not a number", "destinations:\n  \"*\": {rate: fast}\nhooks:\n  - id: a\n",
			`p.yaml:2: destinations.*.rate: rate "fast" is not a positive number of calls per s, m or h (e.g. 50/s)`},
		{"a negative concurrency", "destinations:\n  x: {concurrency: -1}\nhooks:\n  - id: a\n",
			`p.yaml:2: destinations.x.concurrency must not be negative`},
		{"negative io_workers", "io_workers: -2\nhooks:\n  - id: a\n", `p.yaml:1: io_workers must not be negative`},
		{"a misspelt breaker key", "destinations:\n  x: {breaker: {failure: 2}}\nhooks:\n  - id: a\n",
			`p.yaml:2: destinations.x.breaker.failure: unknown key (did you mean "failures"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.src)
			if !slices.Contains(got, tc.want) {
				t.Errorf("problems %q, want %q among them", got, tc.want)
			}
		})
	}
}

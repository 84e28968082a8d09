package config_test

import (
	"slices"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/internal/prune"
)

const day = 24 * time.Hour

func TestRetention(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want prune.Retention
	}{
		{
			name: "a config that says nothing keeps settled deliveries 30 days and dead ones 90",
			src:  "hooks: [{id: a}]\n",
			want: prune.Retention{Default: prune.Policy{MaxAge: 30 * day, DeadMaxAge: 90 * day}},
		},
		{
			name: "ages are written in days and hours",
			src:  "retention: {max_age: 1d12h, dead_max_age: 36h, max_deliveries: 1000, max_size: 2GiB, interval: 10s}\nhooks: [{id: a}]\n",
			want: prune.Retention{Default: prune.Policy{MaxAge: 36 * time.Hour, DeadMaxAge: 36 * time.Hour, MaxDeliveries: 1000},
				MaxSize: 2 << 30, Interval: 10 * time.Second},
		},
		{
			name: "dead deliveries are kept at least as long as the others",
			src:  "retention: {max_age: 180d}\nhooks: [{id: a}]\n",
			want: prune.Retention{Default: prune.Policy{MaxAge: 180 * day, DeadMaxAge: 180 * day}},
		},
		{
			name: "max_age off keeps everything, dead deliveries too",
			src:  "retention: {max_age: off}\nhooks: [{id: a}]\n",
			want: prune.Retention{},
		},
		{
			name: "a hook's retention overrides the fields it sets and inherits the others",
			src: "retention: {max_age: 7d, dead_max_age: 60d, max_deliveries: 100}\n" +
				"hooks:\n  - id: a\n    retention: {max_age: 1d}\n  - id: b\n    retention: {max_deliveries: 0, dead_max_age: off}\n  - id: c\n",
			want: prune.Retention{
				Default: prune.Policy{MaxAge: 7 * day, DeadMaxAge: 60 * day, MaxDeliveries: 100},
				Hooks: map[string]prune.Policy{
					"a": {MaxAge: day, DeadMaxAge: 60 * day, MaxDeliveries: 100},
					"b": {MaxAge: 7 * day},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse(t, tt.src).Retention
			if got.Default != tt.want.Default || got.MaxSize != tt.want.MaxSize || got.Interval != tt.want.Interval || len(got.Hooks) != len(tt.want.Hooks) {
				t.Fatalf("retention = %+v, want %+v", got, tt.want)
			}
			for h, p := range tt.want.Hooks {
				if got.Hooks[h] != p {
					t.Errorf("hook %s: %+v, want %+v", h, got.Hooks[h], p)
				}
			}
		})
	}
}

func TestRetentionProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "an age that is not one says how to write it",
			src:  "retention:\n  max_age: 30days\nhooks: [{id: a}]\n",
			want: []string{`p.yaml:2: retention.max_age: "30days" is not an age: use days or hours, as 30d, 36h or 1d12h, or off for no limit`},
		},
		{
			name: "a negative age is refused",
			src:  "retention:\n  dead_max_age: -1h\nhooks: [{id: a}]\n",
			want: []string{`p.yaml:2: retention.dead_max_age: "-1h" is not an age: use days or hours, as 30d, 36h or 1d12h, or off for no limit`},
		},
		{
			name: "a negative count is refused",
			src:  "retention:\n  max_deliveries: -5\nhooks: [{id: a}]\n",
			want: []string{`p.yaml:2: retention.max_deliveries must not be negative (0 means no limit)`},
		},
		{
			name: "max_size is for SQLite only",
			src:  "store: postgres://u@h/db\nretention:\n  max_size: 1GiB\nhooks: [{id: a}]\n",
			want: []string{`p.yaml:3: retention.max_size is for the embedded SQLite store only: a PostgreSQL database is sized by its server (use max_age and max_deliveries)`},
		},
		{
			name: "max_size is for the whole store, not a hook",
			src:  "hooks:\n  - id: a\n    retention:\n      max_size: 1GiB\n",
			want: []string{`p.yaml:4: hooks[0] "a": retention.max_size is for the whole store: set it in the top-level retention:`},
		},
		{
			name: "an unknown retention key names the nearest known one",
			src:  "retention:\n  max_ag: 3d\nhooks: [{id: a}]\n",
			want: []string{`p.yaml:2: retention.max_ag: unknown key (did you mean "max_age"?)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := problems(t, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestDescribeRetention(t *testing.T) {
	cfg := parse(t, "retention: {max_size: 2GiB}\nhooks:\n  - id: a\n  - id: b\n    retention: {max_deliveries: 10}\n")
	want := "every hook: settled 30d, dead 90d; b: settled 30d, dead 90d, newest 10; store at most 2.0 GiB"
	if got := config.DescribeRetention(cfg.Retention); got != want {
		t.Errorf("DescribeRetention = %q, want %q", got, want)
	}
}

func FuzzAge(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "off", "0", "36h", "-1d", "d", "1d-1h", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := config.Parse("f.yaml", []byte("retention: {max_age: \""+s+"\"}\nhooks: [{id: a}]\n"), getenv)
		if err != nil {
			return
		}
		if cfg.Retention.Default.MaxAge < 0 || cfg.Retention.Default.DeadMaxAge < cfg.Retention.Default.MaxAge && cfg.Retention.Default.DeadMaxAge != 0 {
			t.Errorf("max_age %q: %+v", s, cfg.Retention.Default)
		}
	})
}

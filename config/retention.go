package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox/internal/prune"
	"gopkg.in/yaml.v3"
)

// Retention defaults, for a configuration that says nothing: settled
// deliveries are kept a month and dead ones a quarter, so that a small
// disk does not fill up over a year, and an operator who comes back from
// holiday still finds what failed.
const (
	DefaultMaxAge     = 30 * 24 * time.Hour
	DefaultDeadMaxAge = 90 * 24 * time.Hour
)

// retentionConfig is `retention:`, at the top level (the default of every
// hook) or in a hook. A field left out inherits: a hook's from the top
// level, the top level's from the defaults.
type retentionConfig struct {
	MaxAge        Age           `yaml:"max_age"`
	DeadMaxAge    Age           `yaml:"dead_max_age"`
	MaxDeliveries *int          `yaml:"max_deliveries"`
	MaxSize       ByteSize      `yaml:"max_size"`
	Interval      time.Duration `yaml:"interval"`
}

// Age is how long something is kept, written as a Go duration with days
// allowed (30d, 36h, 1d12h) or off (no limit). Set says it was written.
type Age struct {
	D   time.Duration
	Set bool
}

// UnmarshalYAML reads 30d, 12h, 1d12h, 0 or off.
func (a *Age) UnmarshalYAML(n *yaml.Node) error {
	d, err := parseAge(n.Value)
	if err != nil {
		// A TypeError lets the decoder go on and report the line.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*a = Age{D: d, Set: true}
	return nil
}

// parseAge reads an age: an optional number of days (30d), then an
// optional Go duration (12h, 90m); 0 and off mean no limit.
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return 0, nil
	}
	bad := fmt.Errorf("%q is not an age: use days or hours, as 30d, 36h or 1d12h, or off for no limit", s)
	var d time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		days, err := strconv.Atoi(s[:i])
		if err != nil || days < 0 || days > 100*365 {
			return 0, bad
		}
		d, rest = time.Duration(days)*24*time.Hour, s[i+1:]
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil || more < 0 {
			return 0, bad
		}
		d += more
	}
	if d <= 0 {
		return 0, bad
	}
	return d, nil
}

// buildRetention resolves the top-level and per-hook retention into
// cfg.Retention: a field a hook leaves out is the top level's, one the top
// level leaves out is the default. dead_max_age left out everywhere is the
// longer of DefaultDeadMaxAge and max_age, and off when max_age is off:
// dead deliveries never go before the others.
func (l *loader) buildRetention(root *yaml.Node, fc *fileConfig, cfg *Config) {
	top := fc.Retention
	node := findKey(root, "retention")
	if top.MaxDeliveries != nil && *top.MaxDeliveries < 0 {
		l.addf(findKey(node, "max_deliveries"), "retention.max_deliveries", "must not be negative (0 means no limit)")
	}
	if top.MaxSize > 0 && cfg.Store != "" {
		l.addf(findKey(node, "max_size"), "retention.max_size", "is for the embedded SQLite store only: a PostgreSQL database is sized by its server (use max_age and max_deliveries)")
	}
	if top.Interval < 0 {
		l.addf(findKey(node, "interval"), "retention.interval", "must not be negative")
	}
	base := resolvePolicy(prune.Policy{MaxAge: DefaultMaxAge}, top, nil)
	cfg.Retention = prune.Retention{Default: base, MaxSize: int64(top.MaxSize), Interval: top.Interval}
	hooksNode := findKey(root, "hooks")
	for i, hc := range fc.Hooks {
		if hc.Retention == nil || hc.ID == "" {
			continue
		}
		n := findKey(hooksNode.Content[i], "retention")
		field := fmt.Sprintf("hooks[%d] %q: retention", i, hc.ID)
		r := *hc.Retention
		if r.MaxSize != 0 {
			l.addf(findKey(n, "max_size"), field+".max_size", "is for the whole store: set it in the top-level retention:")
		}
		if r.Interval != 0 {
			l.addf(findKey(n, "interval"), field+".interval", "is for the whole store: set it in the top-level retention:")
		}
		if r.MaxDeliveries != nil && *r.MaxDeliveries < 0 {
			l.addf(findKey(n, "max_deliveries"), field+".max_deliveries", "must not be negative (0 means no limit)")
		}
		if cfg.Retention.Hooks == nil {
			cfg.Retention.Hooks = map[string]prune.Policy{}
		}
		cfg.Retention.Hooks[hc.ID] = resolvePolicy(base, r, &top)
	}
}

// resolvePolicy is the policy that rc sets over parent (whose own
// dead_max_age, when top is not nil, was written there or derived).
func resolvePolicy(parent prune.Policy, rc retentionConfig, top *retentionConfig) prune.Policy {
	p := parent
	if rc.MaxAge.Set {
		p.MaxAge = rc.MaxAge.D
	}
	if rc.MaxDeliveries != nil {
		p.MaxDeliveries = max(*rc.MaxDeliveries, 0)
	}
	switch {
	case rc.DeadMaxAge.Set:
		p.DeadMaxAge = rc.DeadMaxAge.D
	case top != nil && top.DeadMaxAge.Set:
		// The top level's, as written.
	case p.MaxAge == 0:
		p.DeadMaxAge = 0
	default:
		p.DeadMaxAge = max(DefaultDeadMaxAge, p.MaxAge)
	}
	return p
}

// DescribeRetention says in a line what a Retention keeps, for the log at
// start and postbox store stats.
func DescribeRetention(r prune.Retention) string {
	age := func(d time.Duration) string {
		if d == 0 {
			return "forever"
		}
		if d%(24*time.Hour) == 0 {
			return fmt.Sprintf("%dd", d/(24*time.Hour))
		}
		return d.String()
	}
	policy := func(p prune.Policy) string {
		s := "settled " + age(p.MaxAge) + ", dead " + age(p.DeadMaxAge)
		if p.MaxDeliveries > 0 {
			s += fmt.Sprintf(", newest %d", p.MaxDeliveries)
		}
		return s
	}
	s := "every hook: " + policy(r.Default)
	for _, h := range slices.Sorted(maps.Keys(r.Hooks)) {
		if r.Hooks[h] != r.Default {
			s += "; " + h + ": " + policy(r.Hooks[h])
		}
	}
	if r.MaxSize > 0 {
		s += fmt.Sprintf("; store at most %s", FormatBytes(r.MaxSize))
	}
	return s
}

// FormatBytes writes n as KiB, MiB or GiB with one decimal.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

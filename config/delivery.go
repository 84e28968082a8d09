package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultIOWorkers is how many http and mqtt actions run at once unless
// io_workers says otherwise: such an action waits on the network, so many
// cost little, and a slow destination cannot starve the others.
const DefaultIOWorkers = 256

// Destination is the policy of the calls to one destination, as
// `destinations:` sets it. Zero fields mean the queue's defaults.
type Destination struct {
	Concurrency int
	Rate        float64 // calls per second; 0 means no limit
	Burst       int
	// Failures in a row open the circuit breaker; 0 means the default, a
	// negative number never (breaker: {failures: 0} in the file).
	Failures              int
	Cooldown, MaxCooldown time.Duration
}

// destinationConfig is one entry of `destinations:`.
type destinationConfig struct {
	Concurrency int            `yaml:"concurrency"`
	Rate        Rate           `yaml:"rate"`
	Burst       int            `yaml:"burst"`
	Breaker     *breakerConfig `yaml:"breaker"`
}

type breakerConfig struct {
	Failures    *int          `yaml:"failures"`
	Cooldown    time.Duration `yaml:"cooldown"`
	MaxCooldown time.Duration `yaml:"max_cooldown"`
}

// Rate is a number of calls per unit of time, written 50/s, 600/m or
// 10/h; a bare number is per second.
type Rate float64

// UnmarshalYAML reads n/s, n/m or n/h.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := parseRate(s)
	if err != nil {
		// A TypeError lets the decoder go on and report the line.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*r = Rate(v)
	return nil
}

func parseRate(s string) (float64, error) {
	num, unit, found := strings.Cut(strings.TrimSpace(s), "/")
	per := time.Second
	if found {
		switch strings.TrimSpace(unit) {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("rate %q: the unit after / must be s, m or h", s)
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v <= 0 || v > 1e6 {
		return 0, fmt.Errorf("rate %q is not a positive number of calls per s, m or h (e.g. 50/s)", s)
	}
	return v / per.Seconds(), nil
}

// buildDelivery checks io_workers and destinations and fills cfg.
func (l *loader) buildDelivery(root *yaml.Node, fc *fileConfig, cfg *Config) {
	cfg.IOWorkers = fc.IOWorkers
	if cfg.IOWorkers == 0 {
		cfg.IOWorkers = DefaultIOWorkers
	} else if cfg.IOWorkers < 0 {
		l.addf(findKey(root, "io_workers"), "io_workers", "must not be negative")
	}
	if len(fc.Destinations) == 0 {
		return
	}
	node := findKey(root, "destinations")
	cfg.Destinations = map[string]Destination{}
	for name, dc := range fc.Destinations {
		field := "destinations." + name
		at := findKey(node, name)
		if at == nil {
			at = node
		}
		key := DestinationName(name)
		if _, dup := cfg.Destinations[key]; dup {
			l.addf(at, field, "names the destination %s a second time", key)
		}
		d := Destination{Concurrency: dc.Concurrency, Rate: float64(dc.Rate), Burst: dc.Burst}
		if dc.Concurrency < 0 {
			l.addf(at, field+".concurrency", "must not be negative")
		}
		if dc.Burst < 0 {
			l.addf(at, field+".burst", "must not be negative")
		}
		if b := dc.Breaker; b != nil {
			if b.Failures != nil {
				d.Failures = *b.Failures
				if d.Failures < 0 {
					l.addf(at, field+".breaker.failures", "must not be negative (0 turns the breaker off)")
				} else if d.Failures == 0 {
					d.Failures = -1
				}
			}
			d.Cooldown, d.MaxCooldown = b.Cooldown, b.MaxCooldown
			if b.Cooldown < 0 || b.MaxCooldown < 0 {
				l.addf(at, field+".breaker", "cooldown and max_cooldown must not be negative")
			}
		}
		cfg.Destinations[key] = d
	}
}

// DestinationName is the name the queue knows a destination by, for a name
// as written: an http(s) URL becomes scheme://host:port (the path is
// ignored, the port made explicit); anything else ("*", an MQTT broker,
// exec:/path) is kept as written.
func DestinationName(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

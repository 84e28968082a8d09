package signature

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// clock is embedded by verifiers that check timestamps. Its zero value reads
// the system clock; tests set now to a fixed instant instead of sleeping.
type clock struct {
	now func() time.Time
}

func (c *clock) time() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// setClock replaces the clock; tests reach it through an interface so that
// they need not know each verifier's type.
func (c *clock) setClock(now func() time.Time) { c.now = now }

// fresh fails when t is more than tolerance away from now, in either
// direction: a replayed request is old, a forged one may claim the future.
// It compares instants, never their difference: a Duration holds only
// ±292 years, and a timestamp beyond that must not saturate (or negate
// past the smallest Duration) into one that looks fresh.
func (c *clock) fresh(t time.Time, tolerance time.Duration) error {
	now := c.time()
	switch {
	case t.Before(now.Add(-tolerance)):
		return fail("timestamp %s old (tolerance %d s)", seconds(now, t), int64(tolerance/time.Second))
	case t.After(now.Add(tolerance)):
		return fail("timestamp %s in the future (tolerance %d s)", seconds(t, now), int64(tolerance/time.Second))
	}
	return nil
}

// seconds says how far later is after earlier, in whole seconds, without
// overflowing for instants centuries apart.
func seconds(later, earlier time.Time) string {
	return strconv.FormatUint(uint64(later.Unix())-uint64(earlier.Unix()), 10) + " s"
}

// maxUnixSeconds is the last second of year 9999: a later timestamp is no
// sender's clock, and beyond it time.Unix's arithmetic wraps around.
const maxUnixSeconds = 253402300799

// timeFormat is how a provider writes a timestamp: the text is signed as
// sent, so parsing and formatting must round-trip.
type timeFormat struct {
	parse  func(string) (time.Time, error)
	format func(time.Time) string
}

var errTimestamp = errors.New("not a timestamp")

// unixSeconds is "1614265330", the format of most providers.
var unixSeconds = timeFormat{
	parse: func(s string) (time.Time, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 || n > maxUnixSeconds {
			return time.Time{}, errTimestamp
		}
		return time.Unix(n, 0), nil
	},
	format: func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) },
}

// unixMillis is "1614265330123" (Linear's webhookTimestamp).
var unixMillis = timeFormat{
	parse: func(s string) (time.Time, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 || n/1000 > maxUnixSeconds {
			return time.Time{}, errTimestamp
		}
		return time.UnixMilli(n), nil
	},
	format: func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) },
}

// rfc3339 is "2023-07-19T10:11:12.123456789Z" (Twitch).
var rfc3339 = timeFormat{
	parse: func(s string) (time.Time, error) {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
		if err != nil {
			return time.Time{}, errTimestamp
		}
		return t, nil
	},
	format: func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
}

// tolerance returns the configured tolerance, def when it is not set, or a
// *postbox.FieldError when it is negative.
func tolerance(d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, &postbox.FieldError{Field: "tolerance", Message: "must not be negative"}
	case d == 0:
		return def, nil
	}
	return d, nil
}

// quote shows a value a client sent in a log detail, cut short so that a
// huge header does not flood the log.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

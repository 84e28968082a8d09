package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"testing"
	"time"
)

// TestFreshRefusesExtremeInstants checks the freshness window at its edges
// and far beyond them: an instant centuries away must not overflow a
// Duration into one that looks fresh.
func TestFreshRefusesExtremeInstants(t *testing.T) {
	const tol = 5 * time.Minute
	c := &clock{now: func() time.Time { return t0 }}
	tests := []struct {
		name  string
		t     time.Time
		fresh bool
	}{
		{"now is fresh", t0, true},
		{"the tolerance's edge in the past is fresh", t0.Add(-tol), true},
		{"the tolerance's edge in the future is fresh", t0.Add(tol), true},
		{"a second past the edge is stale", t0.Add(-tol - time.Second), false},
		{"a second beyond the edge in the future is refused", t0.Add(tol + time.Second), false},
		{"292 years ahead is refused", t0.Add(292 * 365 * 24 * time.Hour), false},
		{"293 years ahead (beyond a Duration) is refused", t0.AddDate(293, 0, 0), false},
		{"300 years ahead is refused", t0.AddDate(300, 0, 0), false},
		{"year 9999 is refused", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{"300 years ago is refused", t0.AddDate(-300, 0, 0), false},
		{"year 1 is refused", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"the zero time is refused", time.Time{}, false},
		{"the epoch is refused", time.Unix(0, 0), false},
		{"the largest Unix second is refused", time.Unix(math.MaxInt64, 0), false},
		{"the smallest Unix second is refused", time.Unix(math.MinInt64, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.fresh(tt.t, tol)
			if tt.fresh && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tt.fresh && err == nil {
				t.Errorf("%s passed as fresh", tt.t)
			}
		})
	}
}

// TestUnixTimestampsRefuseOutOfRange checks the parsers of numeric
// timestamps with values no sender's clock writes.
func TestUnixTimestampsRefuseOutOfRange(t *testing.T) {
	tests := []struct {
		name   string
		format timeFormat
		in     string
		ok     bool
	}{
		{"seconds now", unixSeconds, "1700000000", true},
		{"seconds in year 9999", unixSeconds, strconv.FormatInt(maxUnixSeconds, 10), true},
		{"seconds after year 9999", unixSeconds, strconv.FormatInt(maxUnixSeconds+1, 10), false},
		{"the largest int64 of seconds", unixSeconds, strconv.FormatInt(math.MaxInt64, 10), false},
		{"beyond int64 seconds", unixSeconds, "9223372036854775808", false},
		{"negative seconds", unixSeconds, "-1", false},
		{"the smallest int64 of seconds", unixSeconds, strconv.FormatInt(math.MinInt64, 10), false},
		{"milliseconds now", unixMillis, "1700000000123", true},
		{"the largest int64 of milliseconds", unixMillis, strconv.FormatInt(math.MaxInt64, 10), false},
		{"negative milliseconds", unixMillis, "-1000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.format.parse(tt.in)
			if tt.ok && err != nil {
				t.Errorf("parse(%q): %v", tt.in, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("parse(%q) accepted", tt.in)
			}
		})
	}
}

// TestHMACRefusesFarFutureTimestamps signs a request properly with a
// timestamp far in the future, in seconds and (mistaken) milliseconds: a
// sender that captured it must not hold a signature that never expires.
func TestHMACRefusesFarFutureTimestamps(t *testing.T) {
	v := at(t, build(t, "hmac", "{header: X-Sig, timestamp_header: X-Ts, secret: s3cret}"), t0)
	body := []byte(`{"a":1}`)
	for _, tt := range []struct{ name, ts string }{
		{"292 years ahead", strconv.FormatInt(t0.Unix()+292*365*86400, 10)},
		{"293 years ahead", strconv.FormatInt(t0.AddDate(293, 0, 0).Unix(), 10)},
		{"year 9999", strconv.FormatInt(maxUnixSeconds, 10)},
		{"the largest int64", strconv.FormatInt(math.MaxInt64, 10)},
		{"milliseconds where seconds belong", strconv.FormatInt(t0.UnixMilli(), 10)},
		{"long ago", "1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig := hex.EncodeToString(mac(sha256.New, "s3cret", tt.ts+"."+string(body)))
			err := v.Verify(post("/h", hdr("X-Sig", sig, "X-Ts", tt.ts), body), body)
			if err == nil {
				t.Fatalf("timestamp %s passed", tt.ts)
			}
		})
	}
	t.Run("a timestamp of now passes (the test signs correctly)", func(t *testing.T) {
		ts := strconv.FormatInt(t0.Unix(), 10)
		sig := hex.EncodeToString(mac(sha256.New, "s3cret", ts+"."+string(body)))
		if err := v.Verify(post("/h", hdr("X-Sig", sig, "X-Ts", ts), body), body); err != nil {
			t.Fatal(err)
		}
	})
}

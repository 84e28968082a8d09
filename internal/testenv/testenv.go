// Package testenv tells tests whether what they need from the machine is
// there: services (PostgreSQL, Mosquitto), tools (curl, Pebble, a browser),
// root. Absent, a test skips with the reason; with
// POSTBOX_REQUIRE_SERVICES=1 (set by .ci/run) it fails instead, so that CI,
// which provides all of it, never passes a check nobody ran.
package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// Required reports whether POSTBOX_REQUIRE_SERVICES=1 makes a missing
// service, tool or privilege a failure.
func Required() bool { return os.Getenv("POSTBOX_REQUIRE_SERVICES") == "1" }

// Skip skips t because the environment lacks what it needs, saying what;
// under POSTBOX_REQUIRE_SERVICES=1 it fails t instead. It is for the
// environment only: a test skipped by -short or by design uses t.Skip.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (POSTBOX_REQUIRE_SERVICES=1 makes this a failure)", reason)
	}
	t.Skipf("skipping: %s; set POSTBOX_REQUIRE_SERVICES=1 to make this a failure", reason)
}

// RequireRoot skips t, or fails it under POSTBOX_REQUIRE_SERVICES=1, unless
// the test runs as root; what says what needs it.
func RequireRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "%s needs root", what)
	}
}

// Service addresses on the developer machine and in CI.
const (
	PostgresAddr  = "127.0.0.1:5432"
	MosquittoAddr = "127.0.0.1:1883"
)

// Require skips t (or fails it under POSTBOX_REQUIRE_SERVICES=1) unless a
// TCP connection to addr succeeds. name says which service, for the reason.
func Require(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	Skip(t, "%s is not reachable at %s (%v)", name, addr, err)
}

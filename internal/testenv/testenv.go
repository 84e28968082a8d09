// Package testenv tells tests whether the services they need (PostgreSQL,
// Mosquitto) are reachable. Absent, a test skips with the reason; with
// POSTBOX_REQUIRE_SERVICES=1 (set by .ci/run) it fails instead.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

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
	if os.Getenv("POSTBOX_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is required at %s (POSTBOX_REQUIRE_SERVICES=1) but is not reachable: %v", name, addr, err)
	}
	t.Skipf("skipping: %s is not reachable at %s (%v); set POSTBOX_REQUIRE_SERVICES=1 to make this a failure", name, addr, err)
}

package admin

import (
	"net/netip"
	"testing"
	"time"
)

func TestClientPrefix(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:4242", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:4242", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:4242", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64"}, // one client holds its /64 whole
		{"@", "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := clientPrefix(tt.remote).String(); got != tt.want {
			t.Errorf("clientPrefix(%q) = %s, want %s", tt.remote, got, tt.want)
		}
	}
}

func TestThrottleStaysBounded(t *testing.T) {
	th := newThrottle()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	addr := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	for i := range maxThrottled {
		if d := th.attempt(addr(i), now); d != 0 {
			t.Fatalf("address %d's first attempt waits %v", i, d)
		}
	}
	if d := th.attempt(addr(maxThrottled), now.Add(time.Second)); d != loginWindow {
		t.Errorf("a new address with the table full waits %v, want %v", d, loginWindow)
	}
	if len(th.byAddr) != maxThrottled {
		t.Errorf("%d addresses tracked, want at most %d", len(th.byAddr), maxThrottled)
	}
	// Once the window is over the table empties for new addresses.
	if d := th.attempt(addr(maxThrottled), now.Add(loginWindow)); d != 0 {
		t.Errorf("a new address after the window waits %v", d)
	}
	if len(th.byAddr) != 1 {
		t.Errorf("%d addresses tracked after the window, want 1", len(th.byAddr))
	}
}

func TestSessionsStayBounded(t *testing.T) {
	s := newSessions(time.Hour)
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	first := s.start(now)
	var last string
	for i := range maxSessions {
		last = s.start(now.Add(time.Duration(i+1) * time.Millisecond))
	}
	if len(s.byID) != maxSessions {
		t.Errorf("%d sessions kept, want %d", len(s.byID), maxSessions)
	}
	if s.valid(first, now) || !s.valid(last, now) {
		t.Errorf("over the bound, the oldest session must end first")
	}
	if len(last) != 43 {
		t.Errorf("a session id is %d characters, want 43 (256 random bits)", len(last))
	}
}

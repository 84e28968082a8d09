package httpcall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateAddress is the cause of a call refused because, with
// `private: deny`, the address it was about to connect to is loopback,
// private, link-local, multicast, unspecified or reserved.
var ErrPrivateAddress = errors.New("refused to connect to a private address (private: deny)")

// The values of Config.Private.
const (
	PrivateAllow = "allow"
	PrivateDeny  = "deny"
)

// nonPublic are the ranges that netip's predicates do not name and that no
// public service lives in.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the broadcast address
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last four bytes.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// isPrivate reports whether ip is an address that `private: deny` refuses.
func isPrivate(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// denyPrivate is a net.Dialer Control function: it runs for every address
// the dialer is about to connect to, after name resolution, so a name that
// resolves (or is rebound) to a private address is refused as well as a
// literal one.
func denyPrivate(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read address %q", ErrPrivateAddress, address)
	}
	if isPrivate(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
	}
	return nil
}

// dialer is the net.Dialer of an action's transport: that of
// http.DefaultTransport, with denyPrivate when private addresses are
// refused.
func dialer(deny bool) *net.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if deny {
		d.ControlContext = denyPrivate
	}
	return d
}

package signature

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/postbox/postbox"
)

// IP admits only clients whose address is in an allowlist of CIDRs (or
// single addresses):
//
//	ip: {allow: [192.30.252.0/22, "2001:db8::/32", 127.0.0.1]}
//
// It checks the host of r.RemoteAddr. The ingress rewrites RemoteAddr from
// X-Forwarded-For only for requests from trusted proxies, so this scheme
// never believes a forwarding header itself.
var IP = Scheme{Name: "ip", New: newIP}

type ipParams struct {
	Allow []string `yaml:"allow"`
}

type ipVerifier struct {
	allow []netip.Prefix
}

func newIP(decode func(any) error) (postbox.Verifier, error) {
	var p ipParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	if len(p.Allow) == 0 {
		return nil, &postbox.FieldError{Field: "allow", Message: "is empty; list the CIDRs that may call, e.g. [10.0.0.0/8]"}
	}
	v := &ipVerifier{}
	for i, s := range p.Allow {
		pre, err := parsePrefix(s)
		if err != nil {
			return nil, &postbox.FieldError{Field: fmt.Sprintf("allow[%d]", i), Message: fmt.Sprintf("%q is not a CIDR or an IP address", s)}
		}
		v.allow = append(v.allow, pre)
	}
	return v, nil
}

// parsePrefix reads "10.0.0.0/8" or a single address, which stands for
// itself alone. IPv4-mapped IPv6 forms are reduced to IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// remoteAddr returns the address of r's client.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func (v *ipVerifier) Verify(r *http.Request, _ []byte) error {
	a, ok := remoteAddr(r)
	if !ok {
		return fail("remote address %s is not an IP address", quote(r.RemoteAddr))
	}
	for _, p := range v.allow {
		if p.Contains(a) {
			return nil
		}
	}
	return fail("remote address %s is not in the allowlist", a)
}

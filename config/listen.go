package config

import (
	"net"
	"net/netip"

	"gopkg.in/yaml.v3"
)

// checkListeners refuses an admin listener on the public listener's
// address: both cannot bind it, and the server would fail at start, after
// check said ok.
func (l *loader) checkListeners(root *yaml.Node, cfg *Config) {
	if cfg.Admin == "off" || listenAddr(cfg.Listen) != nil || listenAddr(cfg.Admin) != nil || !overlap(cfg.Listen, cfg.Admin) {
		return
	}
	l.addf(findKey(root, "admin"), "admin", "is %s, on the port that listen (%s) binds: give the admin listener a port of its own (the default is %s)", cfg.Admin, cfg.Listen, DefaultAdmin)
}

// overlap reports whether two host:port listen addresses would bind the
// same port on some address: the same port, and the same host or one of
// them every address. Port 0 picks a free port and overlaps nothing.
func overlap(a, b string) bool {
	if !samePort(a, b) {
		return false
	}
	ha, _, _ := net.SplitHostPort(a)
	hb, _, _ := net.SplitHostPort(b)
	return ha == hb || unspecified(ha) || unspecified(hb)
}

func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

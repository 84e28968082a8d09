package config_test

import (
	"testing"

	"github.com/postbox/postbox/config"
)

// check refuses an admin listener on the public listener's address, which
// serve could not bind.
func TestAdminAndListenNeedTheirOwnAddresses(t *testing.T) {
	tests := []struct {
		name, listen, admin string
		refused             bool
	}{
		{"the same address is refused", "127.0.0.1:8080", "127.0.0.1:8080", true},
		{"all addresses and loopback on one port are refused", "0.0.0.0:8080", "127.0.0.1:8080", true},
		{"an empty host is every address", ":8080", "127.0.0.1:8080", true},
		{"IPv6's every address too", "[::]:8080", "127.0.0.1:8080", true},
		{"two ports are fine", "0.0.0.0:8080", "127.0.0.1:8081", false},
		{"two hosts on one port are fine", "192.0.2.1:8080", "127.0.0.1:8080", false},
		{"port 0 picks a free port each", "127.0.0.1:0", "127.0.0.1:0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "listen: \"" + tt.listen + "\"\nadmin: \"" + tt.admin + "\"\nhooks: [{id: a}]\n"
			_, err := config.Parse("p.yaml", []byte(src), func(string) string { return "" })
			want := ""
			if tt.refused {
				want = "p.yaml:2: admin is " + tt.admin + ", on the port that listen (" + tt.listen + ") binds: give the admin listener a port of its own (the default is 127.0.0.1:8081)"
			}
			if got := errString(err); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package http

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote string
		header       http.Header
		trusted      []netip.Prefix
		want         string
	}{
		{"no trusted proxies: headers are ignored", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, nil, "10.0.0.1:1"},
		{"an untrusted peer's header is ignored", "8.8.8.8:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, trusted, "8.8.8.8:1"},
		{"a trusted peer names the client", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, trusted, "1.2.3.4:0"},
		{"the right-most untrusted hop wins over spoofed ones", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"6.6.6.6, 1.2.3.4, 10.0.0.2"}}, trusted, "1.2.3.4:0"},
		{"Forwarded for= is read too", "10.0.0.1:1", http.Header{"Forwarded": {`for="[2001:db8::1]:443";proto=https`}}, trusted, "[2001:db8::1]:0"},
		{"a malformed chain is not believed", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"nonsense"}}, trusted, "10.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: tt.header}
			if got := clientAddr(r, tt.trusted); got != tt.want {
				t.Errorf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

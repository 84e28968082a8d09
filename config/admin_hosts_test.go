package config_test

import (
	"slices"
	"testing"

	"github.com/postbox/postbox/config"
)

// TestAdminHosts reads the host names the admin listener answers to
// besides localhost and IP addresses (admin/guard.go), and refuses an
// entry that is a URL rather than a host name.
func TestAdminHosts(t *testing.T) {
	src := "admin: {listen: 127.0.0.1:8091, hosts: [postbox.example.com, 'ops.example.net:9000']}\n" + hooksOK
	cfg, err := config.Parse("p.yaml", []byte(src), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"postbox.example.com", "ops.example.net:9000"}; !slices.Equal(cfg.AdminHosts, want) {
		t.Errorf("AdminHosts = %q, want %q", cfg.AdminHosts, want)
	}
	got := problems(t, "admin: {listen: 127.0.0.1:8091, hosts: ['https://postbox.example.com/']}\n"+hooksOK)
	want := `p.yaml:1: admin.hosts: "https://postbox.example.com/" is not a host name: write it as a browser's Host header has it, e.g. postbox.example.com`
	if !slices.Contains(got, want) {
		t.Errorf("problems %q, want %q among them", got, want)
	}
}

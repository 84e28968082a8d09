package config

import (
	"errors"

	"github.com/postbox/postbox"
)

// Provision puts the configuration to use: every action and verifier of
// every hook that needs shared resources (an MQTT connection) takes them
// from r, which the server keeps across reloads. Load does not do this, so
// that `postbox check` opens nothing. A reload provisions the new
// configuration before it serves, and cleans up the old one after; when
// provisioning fails, what was taken is given back and the configuration
// must not serve.
func (c *Config) Provision(r *postbox.Resources) error {
	for i, h := range c.Hooks {
		if err := h.Provision(r); err != nil {
			for _, done := range c.Hooks[:i] {
				done.Cleanup()
			}
			return err
		}
	}
	return nil
}

// Cleanup gives back what Provision took, once the configuration no
// longer serves: a reload replaced it, or the server stops. Actions still
// running may finish: a connection they use is closed after them.
func (c *Config) Cleanup() error {
	var errs []error
	for _, h := range c.Hooks {
		errs = append(errs, h.Cleanup())
	}
	return errors.Join(errs...)
}

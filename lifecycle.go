package postbox

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// An action or a verifier lives through four steps:
//
//  1. Built and validated from its settings by its package's New, which
//     returns *FieldError problems. config.Load does this, and `postbox
//     check` stops here: nothing is opened, no broker is needed.
//  2. Provisioned (Provisioner) when a server puts its configuration to
//     use: it takes what it shares with others, such as the connection to
//     an MQTT broker, from the server's Resources.
//  3. Used: Run, Verify.
//  4. Cleaned up (CleanerUpper) once its configuration is no longer used:
//     a reload replaced it, or the server stops. What it shared is given
//     back, and closed once nothing uses it any more.
//
// A reload provisions the new configuration before it serves, so a
// connection both configurations use is handed over, never reopened.

// Provisioner is implemented by actions and verifiers that take shared
// resources before they are used. Provision is called once, before the
// first Run or Verify; an error leaves the configuration unused.
type Provisioner interface {
	Provision(r *Resources) error
}

// CleanerUpper is implemented by actions and verifiers that hold something
// to give back once their configuration is no longer used. Cleanup is
// called once, after Provision (if any), while calls already under way may
// still be running: they must be able to finish.
type CleanerUpper interface {
	Cleanup() error
}

// ErrResourcesClosed is returned by Resources.Shared after Close.
var ErrResourcesClosed = errors.New("postbox: resources are closed (the server is stopping)")

// Resources are what the configurations a server loads, one after another,
// share: one value per kind (the MQTT connection pool), kept across
// reloads so that what both configurations use is handed over. The zero
// value is empty and ready to use; the server closes it when it stops.
type Resources struct {
	mu     sync.Mutex
	shared map[any]io.Closer
	closed bool
}

// Shared returns the resource stored under key, made with open the first
// time. key is a value of an unexported type of the package that owns the
// resource, as for context keys, so that packages cannot collide.
func (r *Resources) Shared(key any, open func() io.Closer) (io.Closer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrResourcesClosed
	}
	if c, ok := r.shared[key]; ok {
		return c, nil
	}
	if r.shared == nil {
		r.shared = map[any]io.Closer{}
	}
	c := open()
	r.shared[key] = c
	return c, nil
}

// Close closes every shared resource; Shared fails from then on.
func (r *Resources) Close() error {
	r.mu.Lock()
	shared := r.shared
	r.shared, r.closed = nil, true
	r.mu.Unlock()
	var errs []error
	for _, c := range shared {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Provision provisions the verifiers and the actions of h that are
// Provisioners, in order. When one fails, those already provisioned are
// cleaned up again, and the error names the one that failed.
func (h *Hook) Provision(r *Resources) error {
	parts := h.parts()
	for i, p := range parts {
		pr, ok := p.v.(Provisioner)
		if !ok {
			continue
		}
		if err := pr.Provision(r); err != nil {
			cleanup(parts[:i])
			return fmt.Errorf("hook %q: %s: provision: %w", h.ID, p.name, err)
		}
	}
	return nil
}

// Cleanup cleans up every verifier and action of h that is a
// CleanerUpper, and returns their errors joined.
func (h *Hook) Cleanup() error {
	if err := cleanup(h.parts()); err != nil {
		return fmt.Errorf("hook %q: %w", h.ID, err)
	}
	return nil
}

// part is a verifier or an action of a hook, and its name in errors.
type part struct {
	name string
	v    any
}

func (h *Hook) parts() []part {
	out := make([]part, 0, len(h.Auth)+len(h.Actions))
	for i, v := range h.Auth {
		name := fmt.Sprintf("auth[%d]", i)
		if i < len(h.AuthNames) {
			name = "auth." + h.AuthNames[i]
		}
		out = append(out, part{name, v})
	}
	for i, a := range h.Actions {
		out = append(out, part{fmt.Sprintf("actions[%d].%s", i, a.Kind()), a})
	}
	return out
}

func cleanup(parts []part) error {
	var errs []error
	for _, p := range parts {
		if c, ok := p.v.(CleanerUpper); ok {
			if err := c.Cleanup(); err != nil {
				errs = append(errs, fmt.Errorf("%s: cleanup: %w", p.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

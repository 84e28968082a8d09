package mqtt

import "github.com/postbox/postbox"

var _ postbox.Destined = (*Action)(nil)

// Destination is the broker: every action publishing to it shares its
// limits and its circuit breaker.
func (a *Action) Destination() postbox.Destination {
	return postbox.Destination{Name: a.key.broker, IO: true}
}

package exec

import "github.com/postbox/postbox"

var _ postbox.Destined = (*Action)(nil)

// Destination is the command: it runs in the CPU pool.
func (a *Action) Destination() postbox.Destination {
	return postbox.Destination{Name: "exec:" + a.command}
}

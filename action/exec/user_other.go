//go:build !unix

package exec

import osexec "os/exec"

// runAs is not available where there are no Unix credentials.
type runAs struct{}

func lookupRunAs(userName, _ string, _ map[string]string) (*runAs, error) {
	field := "user"
	if userName == "" {
		field = "group"
	}
	return nil, &postbox.FieldError{Field: field, Message: "is not supported on this system: run postbox itself as the account the command needs"}
}

func (*runAs) apply(*osexec.Cmd) {}

func (*runAs) switchesUser() bool { return false }

// chown does nothing: commands run as postbox's own account here.
func (r *runAs) chown(string) error { return nil }

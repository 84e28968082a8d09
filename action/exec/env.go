package exec

import (
	"fmt"
	"os"
	"slices"

	"github.com/postbox/postbox"
	"gopkg.in/yaml.v3"
)

// baseEnv are the variables every command gets from postbox's own
// environment: enough to find programs and speak the locale, and nothing
// that is likely a secret. HOME is the account's own with user:.
var baseEnv = []string{"PATH", "LANG", "TZ", "HOME"}

// defaultPath is PATH for a command when postbox itself has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// InheritEnv is `inherit_env:`, the variables of postbox's own environment
// that a command gets besides PATH, LANG, TZ and HOME: a list of names
// (inherit_env: [AWS_PROFILE, KUBECONFIG]), or true for all of them. Its
// zero value passes none of them: postbox's environment holds its own
// secrets, and a command's output is stored and shown in the console.
type InheritEnv struct {
	All   bool     // inherit_env: true
	Names []string // inherit_env: [NAME, ...]
}

// UnmarshalYAML reads true, false or a list of names.
func (e *InheritEnv) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var all bool
		if err := n.Decode(&all); err != nil {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: inherit_env: %q is neither a list of variable names nor true", n.Line, n.Value)}}
		}
		*e = InheritEnv{All: all}
		return nil
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		*e = InheritEnv{Names: names}
		return nil
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: inherit_env: use a list of variable names ([AWS_PROFILE, KUBECONFIG]) or true", n.Line)}}
}

// check reports names that no environment variable can have.
func (e InheritEnv) check() []error {
	var errs []error
	for i, name := range e.Names {
		if !validName(name) {
			errs = append(errs, &postbox.FieldError{Field: fmt.Sprintf("inherit_env[%d]", i), Message: fmt.Sprintf("%q is not a variable name (letters, digits and _)", name)})
		}
	}
	return errs
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// environ is what a command starts from, before the hook's env: and the
// POSTBOX_* variables: postbox's whole environment only when inherit_env
// is true, else the base variables and the names inherit_env lists.
// withUser leaves HOME to the account the command runs as.
func (e InheritEnv) environ(withUser bool) []string {
	if e.All {
		return os.Environ()
	}
	var env []string
	pass := func(name string) {
		if withUser && name == "HOME" {
			return
		}
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		} else if name == "PATH" {
			env = append(env, "PATH="+defaultPath)
		}
	}
	for _, name := range baseEnv {
		pass(name)
	}
	for _, name := range e.Names {
		if !slices.Contains(baseEnv, name) {
			pass(name)
		}
	}
	return env
}

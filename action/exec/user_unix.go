//go:build unix

package exec

import (
	"fmt"
	"os"
	osexec "os/exec"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/postbox/postbox"
)

// runAs is the account a command runs as: ids for the kernel, and the
// HOME, USER and LOGNAME the command expects to go with them.
type runAs struct {
	cred *syscall.Credential
	env  []string
	user bool // user: was set, not only group:
}

// switchesUser reports whether the command runs as another account, whose
// HOME it gets rather than postbox's.
func (r *runAs) switchesUser() bool { return r != nil && r.user }

// geteuid is os.Geteuid; tests replace it to see the refusal as root.
var geteuid = os.Geteuid

// lookupRunAs resolves the user and group names (or numeric ids) of an exec
// block. Switching users needs root: a process of any other user cannot,
// and the command would fail at every delivery, so it is refused now.
// configured are the action's own env settings, which win over the
// account's HOME, USER and LOGNAME.
func lookupRunAs(userName, groupName string, configured map[string]string) (*runAs, error) {
	field := "user"
	if userName == "" {
		field = "group"
	}
	if uid := geteuid(); uid != 0 {
		return nil, &postbox.FieldError{Field: field, Message: fmt.Sprintf("needs postbox to run as root to switch to another account, and postbox runs as uid %d: leave %s out to run the command as postbox's own user, or run postbox as root", uid, field)}
	}
	if missing := missingSetIDCaps(); missing != "" {
		return nil, &postbox.FieldError{Field: field, Message: "needs the " + missing + " capability to switch to another account, which this root process lacks (systemd: add CAP_SETUID CAP_SETGID to CapabilityBoundingSet=)"}
	}
	r := &runAs{cred: &syscall.Credential{}}
	var u *user.User
	if userName != "" {
		var err error
		u, err = lookupUser(userName)
		if err != nil {
			return nil, &postbox.FieldError{Field: "user", Message: err.Error()}
		}
		r.user = true
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		r.cred.Uid, r.cred.Gid = uint32(uid), uint32(gid)
		// The account's supplementary groups, and none of root's.
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if g, err := strconv.ParseUint(id, 10, 32); err == nil {
					r.cred.Groups = append(r.cred.Groups, uint32(g))
				}
			}
		}
		for _, kv := range [][2]string{{"HOME", u.HomeDir}, {"USER", u.Username}, {"LOGNAME", u.Username}} {
			if _, set := configured[kv[0]]; !set && kv[1] != "" {
				r.env = append(r.env, kv[0]+"="+kv[1])
			}
		}
	} else {
		// Only the group changes: the command keeps postbox's uid.
		r.cred.Uid = uint32(os.Getuid())
	}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return nil, &postbox.FieldError{Field: "group", Message: err.Error()}
		}
		r.cred.Gid = gid
		if u == nil {
			r.cred.Groups = []uint32{gid}
		}
	}
	return r, nil
}

// lookupUser finds an account by name, or by numeric id.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, numErr := strconv.ParseUint(name, 10, 32); numErr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
		// A uid without an account (a container's) is still a uid.
		return &user.User{Uid: name, Gid: name}, nil
	}
	return nil, fmt.Errorf("%q is not a user on this machine", name)
}

// lookupGroup finds a group id by name, or takes a numeric id.
func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		return uint32(gid), nil
	}
	if gid, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(gid), nil
	}
	return 0, fmt.Errorf("%q is not a group on this machine", name)
}

// missingSetIDCaps names CAP_SETUID or CAP_SETGID when this Linux process
// lacks it (root under systemd with an empty CapabilityBoundingSet=), or "".
func missingSetIDCaps() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return ""
		}
		const capSetGID, capSetUID = 6, 7
		switch {
		case caps&(1<<capSetUID) == 0:
			return "CAP_SETUID"
		case caps&(1<<capSetGID) == 0:
			return "CAP_SETGID"
		}
	}
	return ""
}

// apply makes cmd run as the account.
func (r *runAs) apply(cmd *osexec.Cmd) {
	cmd.SysProcAttr.Credential = r.cred
	cmd.Env = append(cmd.Env, r.env...)
}

// chown gives the file at path to the account the command runs as, so
// that a file only its owner may read is readable by the command.
func (r *runAs) chown(path string) error {
	if r == nil || r.cred == nil {
		return nil
	}
	return os.Chown(path, int(r.cred.Uid), int(r.cred.Gid))
}

//go:build !unix

package exec

import osexec "os/exec"

// killGroupOnCancel leaves os/exec's default: a timeout kills the command
// itself; processes it started are not in a group postbox can kill.
func killGroupOnCancel(*osexec.Cmd) {}

//go:build unix

package exec

import (
	osexec "os/exec"
	"syscall"
)

// killGroupOnCancel makes the command lead a process group of its own, so
// that a timeout kills whatever it started too (a shell script's children).
func killGroupOnCancel(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

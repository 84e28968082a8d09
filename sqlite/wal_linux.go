package sqlite

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the size, when it changed), as SQLite
// does for its own commits on Linux.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

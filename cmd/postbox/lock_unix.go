//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir/postbox.lock, held until the
// returned function runs or the process dies.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, "postbox.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another postbox serve (%s is locked)", dir, path)
	}
	return func() { f.Close() }, nil
}

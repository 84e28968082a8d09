//go:build linux || darwin || freebsd || netbsd || openbsd

package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// pipelinedSync: the writer commits without fsync and the syncer fsyncs
// the WAL before answering (see DB.wal).
const pipelinedSync = true

// walFile is the store's WAL file, opened by the syncer to fsync it.
type walFile struct {
	path string
	f    *os.File
}

// sync flushes the WAL to disk: every transaction committed before the
// call is durable when it returns nil. It reopens the file when SQLite
// replaced it, so that it never fsyncs a file SQLite no longer writes.
func (w *walFile) sync() error {
	if w.f != nil {
		fi, err1 := w.f.Stat()
		cur, err2 := os.Stat(w.path)
		if err1 != nil || err2 != nil || !os.SameFile(fi, cur) {
			w.close()
		}
	}
	if w.f == nil {
		f, err := os.Open(w.path)
		if err != nil {
			return err
		}
		// The WAL may have been created just now: its directory entry
		// must be on disk too, as SQLite itself ensures on its first
		// sync of a new WAL.
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			f.Close()
			return err
		}
		w.f = f
	}
	if err := fdatasync(w.f); err != nil {
		return errors.Join(err, w.close())
	}
	return nil
}

// syncDir flushes the directory dir, so that the files created in it
// survive a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err // EINVAL: the platform cannot sync a directory
	}
	return nil
}

func (w *walFile) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

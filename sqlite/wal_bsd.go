//go:build darwin || freebsd || netbsd || openbsd

package sqlite

import "os"

// fdatasync flushes f; on macOS os.File.Sync is F_FULLFSYNC, stronger
// than SQLite's default fsync.
func fdatasync(f *os.File) error { return f.Sync() }

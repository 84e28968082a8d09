//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package sqlite

// pipelinedSync is off here: commits use synchronous=FULL.
const pipelinedSync = false

type walFile struct{ path string }

func (w *walFile) sync() error  { return nil }
func (w *walFile) close() error { return nil }

//go:build !unix

package main

// lockDir is a no-op where flock is not available; run one server per data
// directory there.
func lockDir(dir string) (func(), error) { return func() {}, nil }

// Package e2e drives the built postbox binary over loopback: the answers
// clients get, what is stored, what actions run, malformed raw requests
// (the corpus in testdata/corpus), `postbox check`, kill -9 and crash
// loops, slow clients, floods and storage faults (reliability_*_test.go;
// docs/reliability.md). Nothing is mocked; every test runs the real binary
// on a config written into its own temporary directory.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// binary is the postbox built once for the whole package.
var binary string

// emulator, when set, runs binary: POSTBOX_E2E_GOARCH=mipsle builds
// postbox for that architecture and runs it under qemu-mipsel-static
// (.ci/mipsle), as a router would run it.
var emulator string

// emulatorFor returns the qemu user-mode emulator for a GOARCH (Debian's
// qemu-user-static, installed by .ci/qemu-deps).
func emulatorFor(arch string) (string, error) {
	name := map[string]string{"mipsle": "qemu-mipsel-static", "mips": "qemu-mips-static", "arm": "qemu-arm-static", "arm64": "qemu-aarch64-static"}[arch]
	if name == "" {
		return "", fmt.Errorf("POSTBOX_E2E_GOARCH=%s: no emulator known for it", arch)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("POSTBOX_E2E_GOARCH=%s needs %s (bash .ci/qemu-deps installs it): %w", arch, name, err)
	}
	return path, nil
}

// postboxCommand is the command that runs the built binary with args,
// under the emulator when there is one.
func postboxCommand(ctx context.Context, args ...string) *exec.Cmd {
	if emulator != "" {
		return exec.CommandContext(ctx, emulator, append([]string{binary}, args...)...)
	}
	return exec.CommandContext(ctx, binary, args...)
}

// testdata is the absolute path of e2e/testdata.
var testdata string

// TestMain builds the binary once for the whole package; with
// POSTBOX_E2E_RACE=1 it is built with -race.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "postbox-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "postbox")
	args := []string{"build", "-o", binary}
	if os.Getenv("POSTBOX_E2E_RACE") == "1" {
		// The server itself runs under the race detector; a server that
		// reports a race fails its test (see newServer).
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/postbox/postbox/cmd/postbox")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if arch := os.Getenv("POSTBOX_E2E_GOARCH"); arch != "" {
		if emulator, err = emulatorFor(arch); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOMIPS=softfloat")
	}
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build postbox:", err)
		return 1
	}
	if testdata, err = filepath.Abs("testdata"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// result is what one run of the postbox command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// runPostbox runs the binary with args in dir and waits for it (at most 30s).
// env is added to a minimal environment; LAMP_TOKEN and the like are never
// inherited from the developer's shell.
func runPostbox(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := postboxCommand(ctx, args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	code := 0
	switch {
	case ctx.Err() != nil:
		t.Fatalf("postbox %s did not end within 30s; stderr:\n%s", strings.Join(args, " "), stderr.String())
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("postbox %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// baseEnv is the environment every postbox process starts from.
func baseEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

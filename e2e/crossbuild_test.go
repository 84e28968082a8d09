package e2e

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCrossBuild builds postbox for 64-bit ARM and for the Raspberry Pi's
// 32-bit ARMv7 with cgo off, as `make release` does, so that a dependency
// that needs cgo (and with it a C cross-compiler) cannot creep in. A cold
// build cache makes this the slowest test here (minutes, for
// modernc.org/sqlite); with a warm one it takes seconds.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds take minutes on a cold build cache: not under -short")
	}
	t.Parallel()
	targets := []struct {
		name, goarch, goarm string
		machine             elf.Machine
	}{
		{"linux-arm64", "arm64", "", elf.EM_AARCH64},
		{"linux-armv7", "arm", "7", elf.EM_ARM},
	}
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	dir := t.TempDir()
	const version = "v0.0.0-crossbuild"
	// Both at once: each is mostly one long single-package compile.
	var wg sync.WaitGroup
	for _, tt := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(dir, "postbox-"+tt.name)
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.buildVersion="+version, "-o", out, "github.com/postbox/postbox/cmd/postbox")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tt.goarch, "GOARM="+tt.goarm)
			start := time.Now()
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: CGO_ENABLED=0 go build: %v\n%s", tt.name, err, msg)
				return
			}
			t.Logf("%s: built in %s", tt.name, time.Since(start).Round(time.Second))
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "postbox-"+tt.name)
			f, err := elf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tt.machine {
				t.Errorf("ELF machine %v, want %v", f.Machine, tt.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("the binary has a %v program header: it is dynamically linked", p.Type)
				}
			}
			info, err := buildinfo.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": tt.goarch, "-trimpath": "true"}
			if tt.goarm != "" {
				want["GOARM"] = tt.goarm
			}
			for _, s := range info.Settings {
				if v, ok := want[s.Key]; ok {
					if s.Value != v {
						t.Errorf("built with %s=%s, want %s", s.Key, s.Value, v)
					}
					delete(want, s.Key)
				}
			}
			if len(want) > 0 {
				t.Errorf("build settings lack %v", want)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(version)) {
				t.Errorf("the binary lacks the version set by -X main.buildVersion")
			}
		})
	}
}

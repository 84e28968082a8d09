package e2e

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	byteorder "encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCrossBuild builds postbox for 64-bit ARM, for the Raspberry Pi's
// 32-bit ARMv7 and for MIPS routers (little- and big-endian, soft float)
// with cgo off, as `make release` does, so that a dependency that needs cgo
// (and with it a C cross-compiler) cannot creep in, and checks that MIPS
// builds take SQLite from ncruces/go-sqlite3 (modernc.org/sqlite has no
// MIPS port) and the others from modernc.org/sqlite. A cold build cache
// makes this the slowest test here (minutes for each SQLite); with a warm
// one it takes seconds.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds take minutes on a cold build cache: not under -short")
	}
	t.Parallel()
	const modernc, ncruces = "modernc.org/sqlite", "github.com/ncruces/go-sqlite3"
	targets := []struct {
		name, goarch, goarm, gomips string
		machine                     elf.Machine
		order                       byteorder.ByteOrder
		sqlite                      string // the SQLite module linked in
	}{
		{"linux-arm64", "arm64", "", "", elf.EM_AARCH64, byteorder.LittleEndian, modernc},
		{"linux-armv7", "arm", "7", "", elf.EM_ARM, byteorder.LittleEndian, modernc},
		{"linux-mipsle", "mipsle", "", "softfloat", elf.EM_MIPS, byteorder.LittleEndian, ncruces},
		{"linux-mips", "mips", "", "softfloat", elf.EM_MIPS, byteorder.BigEndian, ncruces},
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
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tt.goarch, "GOARM="+tt.goarm, "GOMIPS="+tt.gomips)
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
			if f.Machine != tt.machine || f.ByteOrder != tt.order {
				t.Errorf("ELF machine %v, %v; want %v, %v", f.Machine, f.ByteOrder, tt.machine, tt.order)
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
			if tt.gomips != "" {
				want["GOMIPS"] = tt.gomips
			}
			linked := map[string]bool{}
			for _, m := range info.Deps {
				linked[m.Path] = true
			}
			if !linked[tt.sqlite] || linked[modernc] && linked[ncruces] {
				t.Errorf("SQLite modules linked: modernc %v, ncruces %v; want only %s", linked[modernc], linked[ncruces], tt.sqlite)
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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `postbox serve` in-process on config text and returns
// the address it listens on.
func startServe(t *testing.T, cfgText string, extra ...string) (addr, cfgPath string, logs *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "postbox.yaml")
	header := fmt.Sprintf("listen: 127.0.0.1:0\nadmin: \"off\"\ndata: %s\n", filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(header+cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"postbox", "serve", "--config", cfgPath, "--log-format", "json"}, extra...)
	go func() { done <- run(ctx, args, func(string) string { return "" }, &bytes.Buffer{}, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "ready" {
				addr = rec.Addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never became ready:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return addr, cfgPath, logs
}

func writeConfig(t *testing.T, path, hooks string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := string(old)[:strings.Index(string(old), "hooks:")]
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(head+hooks), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReloadAppliesAGoodConfigAndRefusesABadOneUnderLoad(t *testing.T) {
	addr, path, logs := startServe(t, "hooks:\n  - id: a\n", "--watch", "20ms")
	status := func(hook string) int {
		res, err := http.Post("http://"+addr+"/hooks/"+hook, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Errorf("POST %s: %v", hook, err)
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	// Load on hook a for the whole test: no request may fail.
	var stop atomic.Bool
	var failures, sent atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				sent.Add(1)
				if status("a") != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	writeConfig(t, path, "hooks:\n  - id: a\n  - id: b\n")
	waitFor(t, "hook b after a good reload", func() bool { return status("b") == 200 })

	writeConfig(t, path, "hooks:\n  - id: a\n  - id: c\n    nonsense: 1\n")
	waitFor(t, "the bad config to be refused", func() bool { return strings.Contains(logs.String(), "config reload refused") })
	if got := status("b"); got != 200 {
		t.Errorf("after a bad reload hook b answers %d: the old config must keep serving", got)
	}
	if got := status("c"); got != 404 {
		t.Errorf("hook c of the refused config answers %d", got)
	}
	if !strings.Contains(logs.String(), `nonsense: unknown key`) {
		t.Errorf("the refusal does not name the problem:\n%s", logs.String())
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 {
		t.Errorf("%d of %d requests failed during reloads", failures.Load(), sent.Load())
	}
}

func TestServeRefusesAnInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("hooks:\n  - id: x\n    methds: [GET]\n"), 0o600)
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"postbox", "serve", "--config", path}, os.Getenv, &bytes.Buffer{}, &stderr)
	if exitCode(err) != 1 {
		t.Errorf("exit code %d, want 1", exitCode(err))
	}
	want := path + `:3: hooks[0].methds: unknown key (did you mean "methods"?)`
	if strings.TrimSpace(stderr.String()) != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

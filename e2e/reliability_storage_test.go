package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/postbox/postbox/internal/testenv"
)

// storageConfig keeps the store in ./data, where the tests mount a small
// file system.
const storageConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
hooks:
  - id: ingest
`

// TestStorageFull runs the server with its data directory on a 16 MiB
// tmpfs, fills the file system, and checks that requests are then answered
// 503 with Retry-After (never a 2xx that is not durable, never a hang),
// that the server takes deliveries again without a restart once space is
// freed, and that every delivery answered 2xx is in the store, also after
// a kill -9.
func TestStorageFull(t *testing.T) {
	t.Parallel()
	s := newServer(t, storageConfig)
	data := filepath.Join(s.dir, "data")
	mountFS(t, s, data, "-t", "tmpfs", "-o", "size=16m", "tmpfs", data)
	s.start()
	f := &faultClient{s: s}
	f.expect(t, 5, "before the disk is full", want2xx)

	// Leave a little room, so that the store runs out in the middle of
	// a burst of concurrent deliveries (and of group commits). The file
	// system and the room are sized for a file of 16 KiB pages too (which
	// postbox migrate can make, and whose WAL is 1.3 MB after the
	// migrations alone), not only for new files' 4 KiB.
	filler := filepath.Join(data, "filler")
	fill(t, filler, 1<<20)
	f.burst(t, 8, 20, strings.Repeat("x", 16<<10))
	if f.busy == 0 {
		t.Fatalf("the disk is full, yet no request was answered 503")
	}
	// Small deliveries may still fit in pages the WAL has: 2xx (durable)
	// or 503 are both right.
	for i := range 20 {
		f.send(fmt.Sprintf("small #%d", i))
	}
	f.flush(t)
	t.Logf("disk full: %d answered 2xx before the first 503; then %d answered 503 with Retry-After and %d answered 2xx",
		len(f.ok)-5-f.okWhile, f.busy, f.okWhile)
	f.healthz(t)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	f.recovered(t)
	f.expect(t, 10, "after space came back", want2xx)
	f.checkStored(t)
}

// TestStorageReadOnly runs the server with its data directory on a small
// ext4 file system (a loop device) and makes the database and its WAL
// immutable while it runs, so that every write fails with EPERM as on a
// file system gone read-only (a file system cannot be remounted read-only
// while SQLite holds its files open for writing). The -shm file is left
// alone: SQLite maps it into memory, and a write fault there is SIGBUS,
// which ends any SQLite process. Requests must then get 503 with
// Retry-After; once the files are writable again the server must take
// deliveries without a restart; every delivery answered 2xx must be in the
// store.
func TestStorageReadOnly(t *testing.T) {
	t.Parallel()
	s := newServer(t, storageConfig)
	data := filepath.Join(s.dir, "data")
	img := filepath.Join(t.TempDir(), "fs.img")
	if os.Geteuid() == 0 {
		for _, cmd := range [][]string{{"truncate", "-s", "32M", img}, {"mkfs.ext4", "-q", "-F", img}} {
			if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
				mountFailed(t, fmt.Errorf("%s: %v: %s", strings.Join(cmd, " "), err, out))
			}
		}
	}
	mountFS(t, s, data, "-o", "loop", img, data)
	s.start()
	f := &faultClient{s: s}
	f.expect(t, 5, "before the files are read-only", want2xx)

	files := []string{filepath.Join(data, "postbox.db"), filepath.Join(data, "postbox.db-wal")}
	chattr(t, "+i", files...)
	t.Cleanup(func() { exec.Command("chattr", append([]string{"-i"}, files...)...).Run() })
	f.expect(t, 10, "while the files are read-only", want503)
	f.healthz(t)

	chattr(t, "-i", files...)
	f.recovered(t)
	f.expect(t, 10, "after the files are writable again", want2xx)
	f.checkStored(t)
}

// faultClient sends deliveries to a server whose store fails, and keeps
// what it was told. Its methods may be called from several goroutines.
type faultClient struct {
	s       *server
	mu      sync.Mutex
	ok      []string          // ids answered 2xx
	bodies  map[string]string // what each was sent with
	okWhile int               // 2xx answers while the fault was on
	busy    int               // 503 answers with Retry-After
	fault   bool
	errs    []string // answers that are neither
}

// Expectations for faultClient.expect.
const (
	want2xx = "2xx"
	want503 = "503"
)

// send posts one delivery and records its answer; it returns the status,
// or 0 when there was no acceptable answer (2xx, or 503 with
// Retry-After), which is recorded in f.errs.
func (f *faultClient) send(body string) int {
	resp, err := f.s.client.Post(f.s.url+"/hooks/ingest", "text/plain", strings.NewReader(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.errs = append(f.errs, fmt.Sprintf("%v (want an answer, never a hang or a reset)", err))
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch id := resp.Header.Get("Postbox-Delivery"); {
	case resp.StatusCode/100 == 2 && id != "":
		f.ok = append(f.ok, id)
		if f.bodies == nil {
			f.bodies = map[string]string{}
		}
		f.bodies[id] = body
		if f.fault {
			f.okWhile++
		}
	case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
		f.busy++
		f.fault = true
	default:
		f.errs = append(f.errs, fmt.Sprintf("status %d, Retry-After %q, Postbox-Delivery %q: want 2xx with a delivery, or 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), id))
		return 0
	}
	return resp.StatusCode
}

// flush fails t with the unacceptable answers recorded so far.
func (f *faultClient) flush(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.errs {
		t.Error(e)
	}
	if len(f.errs) > 0 {
		t.FailNow()
	}
}

// burst sends deliveries of body from workers goroutines at once until
// the store has refused refusals of them (or 1000 were sent), so that the
// store runs out in the middle of group commits.
func (f *faultClient) burst(t *testing.T, workers, refusals int, body string) {
	t.Helper()
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= 1000 {
				if f.send(body) == 0 {
					return
				}
				f.mu.Lock()
				enough := f.busy >= refusals
				f.mu.Unlock()
				if enough {
					return
				}
			}
		}()
	}
	wg.Wait()
	f.flush(t)
}

// expect sends n small deliveries, each of which must get want.
func (f *faultClient) expect(t *testing.T, n int, when, want string) {
	t.Helper()
	for i := range n {
		st := f.send(fmt.Sprintf("%s #%d", when, i))
		f.flush(t)
		if got := fmt.Sprint(st); want == want503 && got != want503 || want == want2xx && st/100 != 2 {
			t.Errorf("%s: request %d answered %d, want %s", when, i, st, want)
		}
	}
}

// recovered polls until a delivery is answered 2xx again, without a
// restart, and logs how long that took.
func (f *faultClient) recovered(t *testing.T) {
	t.Helper()
	start := time.Now()
	eventually(t, 30*time.Second, func() string {
		st := f.send("recovering")
		f.flush(t)
		if st/100 != 2 {
			return fmt.Sprintf("still answered %d once the fault is gone: the server does not recover without a restart", st)
		}
		return ""
	})
	f.fault = false
	t.Logf("answered 2xx again %s after the fault was removed; %d answered 503 in all", time.Since(start).Round(time.Millisecond), f.busy)
}

// healthz checks that the server still answers while its store fails.
func (f *faultClient) healthz(t *testing.T) {
	t.Helper()
	resp, err := f.s.client.Get(f.s.url + "/healthz")
	if err != nil {
		t.Fatalf("healthz while the store fails: %v", err)
	}
	resp.Body.Close()
}

// checkStored checks that every delivery answered 2xx is stored, now and
// after a kill -9 and a restart, and that nothing else is (a 503 stores
// nothing).
func (f *faultClient) checkStored(t *testing.T) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range f.ok {
		want[id] = true
	}
	for _, when := range []string{"while running", "after kill -9"} {
		if when != "while running" {
			f.s.kill()
			f.s.restart()
		}
		checkStored(t, f.s, want)
		if n := len(f.s.deliveries("--limit", "100000")); n != len(want) {
			t.Errorf("%s: %d deliveries stored, but %d were answered 2xx", when, n, len(want))
		}
	}
	for id, body := range f.bodies {
		if d := f.s.delivery(id); string(d.Body) != body {
			t.Errorf("delivery %s has a body of %d bytes, sent with %d", id, len(d.Body), len(body))
		}
	}
	t.Logf("%d deliveries answered 2xx, all stored whole; lost: 0", len(want))
}

// fill writes path until the file system has only room bytes left, or
// is full.
func fill(t *testing.T, path string, room int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	left := int64(st.Bavail)*st.Bsize - room
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	chunk := make([]byte, 64<<10)
	for ; left > 0; left -= int64(len(chunk)) {
		if _, err := fh.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

// mountFS mounts a file system on dir (mount args...) and unmounts it when
// the test ends, after stopping s. Without root it skips; when the mount
// fails it skips, or fails under POSTBOX_REQUIRE_SERVICES=1.
func mountFS(t *testing.T, s *server, dir string, args ...string) {
	t.Helper()
	testenv.RequireRoot(t, "mounting a file system for the data directory")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		mountFailed(t, fmt.Errorf("mount %s: %v: %s", strings.Join(args, " "), err, out))
	}
	t.Cleanup(func() {
		s.stop()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// mountFailed skips (as root, fails under POSTBOX_REQUIRE_SERVICES=1) a
// test whose file system could not be made.
func mountFailed(t *testing.T, err error) {
	t.Helper()
	testenv.Skip(t, "%v", err)
}

// chattr sets or clears (flag "+i", "-i") a file attribute.
func chattr(t *testing.T, flag string, files ...string) {
	t.Helper()
	if out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %v: %v: %s", flag, files, err, out)
	}
}

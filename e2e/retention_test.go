package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetentionMaxSizeHoldsOnDisk fills a SQLite store well past a small
// retention.max_size with large bodies and checks that the database file
// comes back under it, while the server goes on accepting every request
// and keeps the newest deliveries.
func TestRetentionMaxSizeHoldsOnDisk(t *testing.T) {
	const maxSize = 2 << 20
	s := startServer(t, `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: @DIR@/data
retention: {max_size: 2MiB, interval: 500ms}
limits: {max_body: 1MiB}
hooks:
  - id: big
`)
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	admin := "http://" + fmt.Sprint(ready["addr"])
	s.waitLog("the retention line", func(r record) bool {
		return r["msg"] == "retention" && strings.Contains(fmt.Sprint(r["keeps"]), "store at most 2.0 MiB")
	})
	file := filepath.Join(s.dir, "data", "postbox.db")
	fileSize := func() int64 {
		fi, err := os.Stat(file)
		if err != nil {
			return 0
		}
		return fi.Size()
	}

	// 1,200 deliveries of 32 KiB, 37 MiB in all: the checkpoints (every
	// 512 writes) copy them into the file well past 2 MiB.
	body := bytes.Repeat([]byte("0123456789abcdef"), 2<<10)
	var (
		peak     atomic.Int64
		refused  atomic.Int64
		lastID   atomic.Value
		wg       sync.WaitGroup
		sent     atomic.Int64
		stopPeek = make(chan struct{})
	)
	wg.Go(func() {
		for {
			select {
			case <-stopPeek:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n := fileSize(); n > peak.Load() {
				peak.Store(n)
			}
		}
	})
	var posters sync.WaitGroup
	for range 4 {
		posters.Go(func() {
			for sent.Add(1) <= 1200 {
				res, err := s.client.Post(s.url+"/hooks/big", "application/octet-stream", bytes.NewReader(body))
				if err != nil {
					refused.Add(1)
					continue
				}
				var v struct {
					ID string `json:"delivery"`
				}
				json.NewDecoder(res.Body).Decode(&v)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					refused.Add(1)
					continue
				}
				lastID.Store(v.ID)
			}
		})
	}
	posters.Wait()
	if n := refused.Load(); n > 0 {
		t.Errorf("%d of 1,200 requests were refused while the store was pruned", n)
	}
	// The last one accepted after the load, too.
	res, err := s.client.Post(s.url+"/hooks/big", "application/octet-stream", bytes.NewReader(body))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("a request after the load: %v %v", res, err)
	}
	var last struct {
		ID string `json:"delivery"`
	}
	json.NewDecoder(res.Body).Decode(&last)
	res.Body.Close()

	var stats struct {
		Used int64 `json:"used"`
		Free int64 `json:"free"`
		Rows int64 `json:"rows"`
	}
	eventually(t, 20*time.Second, func() string {
		r, err := http.Get(admin + "/api/store")
		if err != nil {
			return err.Error()
		}
		defer r.Body.Close()
		if err := json.NewDecoder(r.Body).Decode(&stats); err != nil {
			return err.Error()
		}
		if n := fileSize(); n > peak.Load() {
			peak.Store(n)
		}
		if stats.Used > maxSize || stats.Free > 0 || fileSize() > maxSize {
			return fmt.Sprintf("the store uses %d bytes (%d free, %d rows), its file %d bytes; max_size is %d",
				stats.Used, stats.Free, stats.Rows, fileSize(), maxSize)
		}
		return ""
	})
	close(stopPeek)
	wg.Wait()
	if p := peak.Load(); p <= maxSize {
		t.Errorf("the file never grew past max_size (peak %d bytes): the test proves nothing", p)
	}
	t.Logf("file peaked at %.1f MiB, back to %.2f MiB with %d deliveries", float64(peak.Load())/(1<<20), float64(fileSize())/(1<<20), stats.Rows)
	for _, id := range []string{fmt.Sprint(lastID.Load()), last.ID} {
		r, err := http.Get(admin + "/api/deliveries/" + id)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("the newest delivery %s: GET %d, want it kept", id, r.StatusCode)
		}
	}
	s.waitLog("a prune by max_size", func(r record) bool {
		return r["msg"] == "pruned deliveries" && strings.Contains(fmt.Sprint(r["by"]), "max_size")
	})
}

// TestDeliveriesPruneDryRun checks that postbox deliveries prune --dry-run
// counts and removes nothing, and that without it the deliveries go. The
// server takes the deliveries with the default retention, so that its own
// pass at start cannot prune them while they arrive; the commands then run
// on the configuration with the rules.
func TestDeliveriesPruneDryRun(t *testing.T) {
	const hooks = `
listen: 127.0.0.1:0
admin: off
data: @DIR@/data
hooks:
  - id: a
  - id: b
    retention: {max_deliveries: 0}
`
	s := startServer(t, hooks)
	for _, hook := range []string{"a", "a", "a", "a", "a", "b", "b", "b"} {
		res, err := s.client.Post(s.url+"/hooks/"+hook, "application/json", strings.NewReader(`{}`))
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("POST: %v %v", res, err)
		}
		res.Body.Close()
	}
	s.stop()
	withRules := strings.ReplaceAll(hooks, "@DIR@", s.dir) + "retention: {max_deliveries: 2, interval: 1h}\n"
	if err := os.WriteFile(filepath.Join(s.dir, "postbox.yaml"), []byte(withRules), 0o644); err != nil {
		t.Fatal(err)
	}
	out := s.cli("deliveries", "prune", "--config", "postbox.yaml", "--dry-run")
	if out.code != 0 || !strings.Contains(out.stdout, "would remove 3 deliveries") || !regexpMatch(`a\s+max_deliveries\s+3`, out.stdout) {
		t.Fatalf("prune --dry-run: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if n := len(s.deliveries("--limit", "100")); n != 8 {
		t.Errorf("after a dry run %d deliveries are left, want 8", n)
	}
	out = s.cli("deliveries", "prune", "--config", "postbox.yaml")
	if out.code != 0 || !strings.Contains(out.stdout, "removed 3 deliveries") {
		t.Fatalf("prune: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	if n := len(s.deliveries("--limit", "100")); n != 5 {
		t.Errorf("after the prune %d deliveries are left, want 5 (2 of a, 3 of b)", n)
	}
	out = s.cli("store", "stats", "--config", "postbox.yaml")
	if out.code != 0 || !strings.Contains(out.stdout, "Deliveries: 5") || !regexpMatch(`(?m)^b\s+3\s`, out.stdout) {
		t.Errorf("store stats: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

package e2e

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

const routerConfig = `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: ./data
hooks:
  - id: lamp
    auth: {token: {header: X-Token, secret: s3cret}}
    actions:
      - exec: {command: /bin/true}
    response: {status: 200, body: SUCCESS}
`

// TestServeRestartSmoke is the smoke test of a build for another
// architecture (.ci/mipsle runs it with POSTBOX_E2E_GOARCH=mipsle under
// qemu-mipsel-static, as on a router), and natively a quick one here:
// serve, POST, list, restart, list. Deliveries answered 200 are stored,
// their actions run (the queue's claims on that build's SQLite), and a
// restarted server on the same data directory lists them again. It logs
// the idle server's memory, which docs/deploy.md quotes.
func TestServeRestartSmoke(t *testing.T) {
	t.Parallel()
	s := startServer(t, routerConfig)
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	admin := "http://" + fmt.Sprint(ready["addr"])
	time.Sleep(250 * time.Millisecond) // idle, as the harness measures it
	t.Logf("idle after start (%s): %s; %s", emulatorName(), vm(t, s), goMemory(t, s, admin))
	var ids []string
	for i := range 3 {
		status, id, _, answer := s.post(t, "/hooks/lamp", map[string]string{"X-Token": "s3cret", "Content-Type": "application/json"},
			fmt.Sprintf(`{"state":"on","n":%d}`, i))
		if status != 200 || id == "" || answer != "SUCCESS" {
			t.Fatalf("POST %d: status %d, Postbox-Delivery %q, answer %q; want 200 SUCCESS with an id", i, status, id, answer)
		}
		ids = append(ids, id)
	}
	if status, _, _, _ := s.post(t, "/hooks/lamp", map[string]string{"X-Token": "wrong"}, `{}`); status != 401 {
		t.Errorf("a wrong token: status %d, want 401", status)
	}
	done := func() string {
		got := map[string]string{}
		for _, d := range s.deliveries() {
			got[d.ID] = d.State
		}
		if len(got) != len(ids) {
			return fmt.Sprintf("listed %v, want exactly %v", got, ids)
		}
		for _, id := range ids {
			if got[id] != "done" {
				return fmt.Sprintf("delivery %s is %q, want done", id, got[id])
			}
		}
		return ""
	}
	eventually(t, 60*time.Second, done)
	s.stop()
	from := s.logs.len()
	s.restart()
	if msg := done(); msg != "" {
		t.Errorf("after a restart: %s", msg)
	}
	ready, err := s.logs.waitFrom(from, 15*time.Second, s.exited, func(r record) bool { return r["msg"] == "admin ready" })
	if err != nil {
		t.Fatalf("the admin listener after the restart: %v", err)
	}
	t.Logf("after the restart and a list (%s): %s; %s", emulatorName(), vm(t, s), goMemory(t, s, "http://"+fmt.Sprint(ready["addr"])))
}

func emulatorName() string {
	if emulator == "" {
		return "native"
	}
	return "under " + emulator
}

// vm reads the server process's VmRSS, VmHWM and VmSize. Under qemu-user
// they are the emulator's: the guest's memory and qemu's own (its
// translation cache); VmSize is then qemu's, with the 2 GiB it reserves
// for a 32-bit MIPS guest (sqlite's TestAddressSpace reports the guest's
// own view).
func vm(t *testing.T, s *server) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("memory: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		name, value, _ := strings.Cut(line, ":")
		switch name {
		case "VmRSS", "VmHWM", "VmSize", "RssAnon":
			out = append(out, name+" "+strings.TrimSpace(value))
		}
	}
	return strings.Join(out, ", ")
}

// goMemory reads the Go runtime's own account of its memory from the
// server's /metrics: under an emulator, the guest's, without qemu's.
// SQLite's memory under ncruces/go-sqlite3 is mapped beside it.
func goMemory(t *testing.T, s *server, admin string) string {
	t.Helper()
	resp, err := s.client.Get(admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, name := range []string{"go_memstats_sys_bytes", "go_memstats_heap_inuse_bytes"} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				out = append(out, name+" "+v)
			}
		}
	}
	return strings.Join(out, ", ")
}

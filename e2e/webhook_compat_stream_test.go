package e2e

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStreamedSyncOutput: a sync hook with response: {stream: true} sends
// the command's output to the client as it is written (adnanh/webhook
// issue 250), ends with the exit status in a trailer, and records the
// attempt as any sync hook does.
func TestStreamedSyncOutput(t *testing.T) {
	s := startServer(t, `
listen: 127.0.0.1:0
admin: off
data: ./data
hooks:
  - id: deploy
    mode: sync
    actions:
      - exec:
          command: sh
          args: ["-c", "for i in 1 2 3; do echo step $i; sleep 1; done; touch @DIR@/finished; exit 3"]
    response: {stream: true, headers: {X-Hook: deploy}}
`)
	res, err := s.client.Post(s.url+"/hooks/deploy", "text/plain", strings.NewReader("go"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("X-Hook") != "deploy" || res.Header.Get("Postbox-Delivery") == "" {
		t.Fatalf("answer %d with headers %v", res.StatusCode, res.Header)
	}
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "step 1\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "finished")); !os.IsNotExist(err) {
		t.Fatalf("the first line came only after the command finished (stat: %v)", err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "step 2\nstep 3\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if got := res.Trailer.Get("Postbox-Exit-Status"); got != "3" {
		t.Errorf("Postbox-Exit-Status trailer = %q, want 3 (trailers %v)", got, res.Trailer)
	}
	if got := res.Trailer.Get("Postbox-Outcome"); got != "failed" {
		t.Errorf("Postbox-Outcome trailer = %q, want failed", got)
	}
	a := s.waitLog("the streamed hook's attempt", func(r record) bool {
		return r["msg"] == "attempt" && r["hook"] == "deploy"
	})
	if a["exit_code"] != float64(3) || a["output"] != "step 1\nstep 2\nstep 3\n" {
		t.Errorf("attempt logged as %v", a)
	}
}

// TestStreamNeedsSync: stream: true without mode: sync is refused at load.
func TestStreamNeedsSync(t *testing.T) {
	dir := t.TempDir()
	cfg := "listen: 127.0.0.1:0\nadmin: off\nhooks:\n  - id: a\n    actions: [{exec: {command: /bin/true}}]\n    response: {stream: true}\n"
	if err := os.WriteFile(filepath.Join(dir, "postbox.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runPostbox(t, dir, nil, "check", "--config", "postbox.yaml")
	if res.code != 1 || !strings.Contains(res.stderr, "response.stream") || !strings.Contains(res.stderr, "needs mode: sync") {
		t.Errorf("check: exit %d, stderr %q", res.code, res.stderr)
	}
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
)

// TestInstancesListsTheRegisteredInstancesWithoutHookSecrets registers two
// instances in a store, one holding a job and one stopped, and lists them
// with a configuration whose hook secret's variable is unset (the command
// reads the store's settings alone).
func TestInstancesListsTheRegisteredInstancesWithoutHookSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "postbox.yaml")
	writeFile(t, cfg, "listen: 127.0.0.1:0\nadmin: \"off\"\ndata: "+filepath.Join(dir, "data")+
		"\nhooks: [{id: gh, auth: {github: {secret: \"${GH_SECRET}\"}}, actions: [{exec: {command: /bin/true}}]}]\n")
	ctx := context.Background()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data", "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Register(ctx, &postbox.Instance{ID: "01OLD", Host: "old-host", PID: 7, Version: "v0.9"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Deregister(ctx, "01OLD"); err != nil {
		t.Fatal(err)
	}
	if err := db.Register(ctx, &postbox.Instance{ID: "01NEW", Host: "new-host\x1b[2J", PID: 8, Version: "v1.0"}); err != nil {
		t.Fatal(err)
	}
	d := &postbox.Delivery{ID: "d001", HookID: "gh", Method: "POST", Path: "/hooks/gh", Received: time.Now(), Actions: 1}
	if err := db.Append(ctx, d); err != nil {
		t.Fatal(err)
	}
	if jobs, err := postbox.Claim(ctx, db, 1, time.Minute); err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	db.Close()

	out, stderr, err := postboxCmd(t, "instances", "--config", cfg, "--jobs")
	if err != nil {
		t.Fatalf("instances: %v\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("instances printed:\n%s\nwant a header, two instances and one job", out)
	}
	for i, want := range [][]string{{"01NEW", "running", `new-host\x1b[2J`, "v1.0", " 1"}, {"d001", "gh", "action 0"}, {"01OLD", "stopped", "old-host", " 0"}} {
		for _, w := range want {
			if !strings.Contains(lines[i+1], w) {
				t.Errorf("line %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a host name's escape reached the terminal")
	}
	out, stderr, err = postboxCmd(t, "instances", "--config", cfg, "--json")
	if err != nil {
		t.Fatalf("instances --json: %v\n%s", err, stderr)
	}
	var v struct{ Instances []postbox.Instance }
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Instances) != 2 || v.Instances[0].Held != 1 ||
		v.Instances[0].Jobs[0].Delivery != "d001" || v.Instances[1].State != postbox.InstanceStopped {
		t.Errorf("instances --json: %v\n%s", err, out)
	}
}

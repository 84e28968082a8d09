package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/testenv"
	"github.com/postbox/postbox/sqlite"
)

// pgSchema makes an empty PostgreSQL schema for one test, dropped when the
// test ends, and returns a URL whose search_path is that schema. It skips
// the test when PostgreSQL is not reachable (POSTBOX_TEST_POSTGRES names
// another server than 127.0.0.1:5432).
func pgSchema(t *testing.T) string {
	t.Helper()
	return testenv.PostgresSchema(t, "pbtest")
}

// postboxCmd runs the command in-process and returns what it printed.
func postboxCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"postbox"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMigrate(t *testing.T) {
	t.Run("on SQLite it creates the store, then finds it up to date", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "postbox.yaml")
		writeFile(t, cfg, "hooks: [{id: a}]\ndata: "+filepath.Join(dir, "data")+"\n")
		for _, want := range []string{"applied 0001_init.sql, 0002_retention.sql, 0003_instances.sql, 0004_relay.sql; schema at version 4", "schema up to date at version 4; nothing applied"} {
			out, errOut, err := postboxCmd(t, "migrate", "--config", cfg)
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("migrate: %v\nstdout: %s\nstderr: %s\nwant %q", err, out, errOut, want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postbox.db")); err != nil {
			t.Error(err)
		}
	})
	t.Run("on PostgreSQL it applies the migrations once, then finds the schema up to date", func(t *testing.T) {
		u := pgSchema(t)
		cfg := filepath.Join(t.TempDir(), "postbox.yaml")
		writeFile(t, cfg, fmt.Sprintf("hooks: [{id: a}]\nstore: %q\n", u))
		first := regexp.MustCompile(`: applied 0001_init\.sql(, \d{4}_\w+\.sql)*; schema at version (\d+)\n$`)
		out, errOut, err := postboxCmd(t, "migrate", "--config", cfg)
		m := first.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("migrate: %v\nstdout: %s\nstderr: %s\nwant it to match %s", err, out, errOut, first)
		}
		want := "schema up to date at version " + m[2] + "; nothing applied"
		out, errOut, err = postboxCmd(t, "migrate", "--config", cfg)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("migrate again: %v\nstdout: %s\nstderr: %s\nwant %q", err, out, errOut, want)
		}
	})
	t.Run("a store that is not PostgreSQL is refused", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "postbox.yaml")
		writeFile(t, cfg, "hooks: [{id: a}]\nstore: mysql://x\n")
		if _, _, err := postboxCmd(t, "migrate", "--config", cfg); err == nil || !strings.Contains(err.Error(), "use postgres://") {
			t.Errorf("migrate: %v, want a refusal naming postgres://", err)
		}
	})
}

// writeStore fills a new SQLite store at path with deliveries in every
// state, with attempts, a replay, a duplicate and deliveries whose actions
// are still pending at different points. It returns the jobs that the
// pending ones must resume with.
func writeStore(t *testing.T, path string) map[string]postbox.Job {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Received in the past, so that the jobs Append makes are due.
	base := time.Now().UTC().Add(-time.Hour)
	n := 0
	add := func(actions int, dedup string) string {
		t.Helper()
		n++
		d := &postbox.Delivery{
			ID: fmt.Sprintf("d%03d", n), HookID: "gh", Method: "POST", Path: "/gh/repo\x01",
			Query:      url.Values{"a": {"1", "2"}},
			Header:     http.Header{"Content-Type": {"application/json"}, "X-Many": {"a", "b"}},
			Body:       []byte(fmt.Sprintf("{\"n\":%d,\"bytes\":\"\xff\xfe\"}", n)),
			RemoteAddr: "192.0.2.1:4711", Received: base.Add(time.Duration(n) * time.Second),
			PathValues: map[string]string{"repo": "r"}, Actions: actions, Key: fmt.Sprintf("k%d", n), DedupKey: dedup,
			DedupWindow: time.Hour,
		}
		if err := db.Append(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	// step runs the next attempt of id's job with outcome and moves it on.
	step := func(id string, outcome postbox.Outcome, next postbox.JobTransition) {
		t.Helper()
		jobs, err := postbox.Claim(ctx, db, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var job *postbox.Job
		for _, j := range jobs {
			if j.DeliveryID == id {
				job = j
			} else if err := postbox.Release(ctx, db, j); err != nil {
				t.Fatal(err)
			}
		}
		if job == nil {
			t.Fatalf("no job for %s", id)
		}
		a := &postbox.Attempt{Kind: "exec", Started: base.Add(time.Hour + time.Duration(n)*time.Millisecond), Duration: 1500 * time.Microsecond,
			Outcome: outcome, Output: "line 1\nline 2\n", Truncated: outcome != postbox.OutcomeOK}
		if outcome != postbox.OutcomeOK {
			a.ExitCode, a.Error = 3, "exit status 3"
		}
		if err := postbox.Finish(ctx, db, job, a, next); err != nil {
			t.Fatal(err)
		}
	}
	done := postbox.JobTransition{Next: postbox.StateDone}
	retry := postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now().Add(time.Hour)}

	want := map[string]postbox.Job{}
	d := add(2, "") // done after two actions
	step(d, postbox.OutcomeOK, done)
	step(d, postbox.OutcomeOK, done)
	d = add(1, "") // failed, dead
	step(d, postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StateFailed})
	d = add(1, "")
	step(d, postbox.OutcomeTimeout, postbox.JobTransition{Next: postbox.StateDead})
	add(0, "")     // no actions: done at once
	add(1, "once") // pending, no attempt yet
	add(1, "once") // its duplicate
	want["d005"] = postbox.Job{DeliveryID: "d005", HookID: "gh", Action: 0, Attempt: 0}
	d = add(2, "") // first action done, second pending
	step(d, postbox.OutcomeOK, done)
	want[d] = postbox.Job{DeliveryID: d, HookID: "gh", Action: 1, Attempt: 0}
	d = add(2, "") // first action failed twice, retry due later
	step(d, postbox.OutcomeFailed, retry)
	want[d] = postbox.Job{DeliveryID: d, HookID: "gh", Action: 0, Attempt: 1}
	d = add(1, "") // done, then replayed: pending in series 1
	step(d, postbox.OutcomeOK, done)
	if err := db.Replay(ctx, d); err != nil {
		t.Fatal(err)
	}
	want[d] = postbox.Job{DeliveryID: d, HookID: "gh", Series: 1, Action: 0, Attempt: 0}
	// The pending ones' jobs are leased or due later in this store; the
	// copy makes them due and free.
	if _, err := postbox.Claim(ctx, db, 100, time.Hour); err != nil {
		t.Fatal(err)
	}
	return want
}

// dump returns the JSON of every delivery in the store at addr, in full,
// by id, and the jobs it can claim now.
func dump(t *testing.T, addr string) (map[string]string, map[string]postbox.Job) {
	t.Helper()
	ctx := context.Background()
	s, _, closeFn, err := openAddr(ctx, addr, false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	list, err := s.Deliveries(ctx, postbox.DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range list {
		d, err := s.Delivery(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		out[d.ID] = string(b)
	}
	jobs := map[string]postbox.Job{}
	claimed, err := postbox.Claim(ctx, s, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range claimed {
		jobs[j.DeliveryID] = *j
		if err := postbox.Release(ctx, s, j); err != nil {
			t.Fatal(err)
		}
	}
	return out, jobs
}

func TestStoreCopyRoundTripKeepsEveryDelivery(t *testing.T) {
	pg := pgSchema(t)
	dir := t.TempDir()
	from := "sqlite:" + filepath.Join(dir, "a", "postbox.db")
	back := "sqlite:" + filepath.Join(dir, "b") // a data directory, made by the copy
	backFile := filepath.Join(dir, "b", "postbox.db")
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o750); err != nil {
		t.Fatal(err)
	}
	wantJobs := writeStore(t, strings.TrimPrefix(from, "sqlite:"))
	want, _ := dump(t, from)
	if len(want) != 9 {
		t.Fatalf("the source holds %d deliveries, want 9", len(want))
	}

	copyOK := func(from, to, summary string) {
		t.Helper()
		out, errOut, err := postboxCmd(t, "store", "copy", "--from", from, "--to", to)
		if err != nil || !strings.Contains(out, summary) {
			t.Fatalf("store copy %s → %s: %v\nstdout: %s\nstderr: %s\nwant %q", from, to, err, out, errOut, summary)
		}
	}
	copyOK(from, pg, "9 deliveries copied (7 attempts; 4 pending, resumed at once), 0 already there")
	copyOK(from, pg, "0 deliveries copied (0 attempts; 0 pending, resumed at once), 9 already there")
	copyOK(pg, back, "9 deliveries copied (7 attempts; 4 pending, resumed at once), 0 already there")
	if _, err := os.Stat(backFile); err != nil {
		t.Errorf("sqlite:DIR did not make DIR/postbox.db: %v", err)
	}

	for _, addr := range []string{pg, back} {
		got, jobs := dump(t, addr)
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s: delivery %s differs\ngot:  %s\nwant: %s", addr, id, got[id], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s holds %d deliveries, want %d", addr, len(got), len(want))
		}
		for id, w := range wantJobs {
			j, ok := jobs[id]
			j.Lease = 0 // the claim's token, whatever the clock said
			if !ok || j != w {
				t.Errorf("%s: job of %s is %+v (claimable: %v), want %+v", addr, id, j, ok, w)
			}
		}
		if len(jobs) != len(wantJobs) {
			t.Errorf("%s: %d jobs claimable, want %d: %v", addr, len(jobs), len(wantJobs), jobs)
		}
	}
}

func TestStoreCopyRefuses(t *testing.T) {
	dir, locked := t.TempDir(), t.TempDir()
	for _, d := range []string{dir, locked} {
		db, err := sqlite.Open(context.Background(), filepath.Join(d, "postbox.db"))
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	unlock, err := lockDir(locked)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a subcommand other than copy", []string{"store", "move"}, "Usage: postbox store copy"},
		{"a copy without --to", []string{"store", "copy", "--from", "sqlite:" + dir}, "Usage: postbox store copy"},
		{"an address of no known kind", []string{"store", "copy", "--from", "mysql://x", "--to", "sqlite:" + dir}, "use sqlite:PATH"},
		{"a source that does not exist", []string{"store", "copy", "--from", "sqlite:" + filepath.Join(dir, "none.db"), "--to", "sqlite:" + dir}, "no store at"},
		{"a store copied onto itself", []string{"store", "copy", "--from", "sqlite:" + dir, "--to", "sqlite:" + filepath.Join(dir, "postbox.db")}, "are the same store"},
		{"a store a server runs on", []string{"store", "copy", "--from", "sqlite:" + locked, "--to", "sqlite:" + dir}, "in use"},
		{"no workers", []string{"store", "copy", "--from", "sqlite:" + dir, "--to", "sqlite:" + dir, "--workers", "0"}, "--workers must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := postboxCmd(t, tt.args...)
			if err == nil {
				t.Fatalf("store copy succeeded: %s", out)
			}
			if msg := errOut + err.Error(); !strings.Contains(msg, tt.want) {
				t.Errorf("got %q, want it to say %q", msg, tt.want)
			}
		})
	}
	// Nothing was created by the refusals.
	entries, _ := os.ReadDir(dir)
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if slices.Contains(names, "none.db") {
		t.Errorf("a refused copy created none.db: %v", names)
	}
}

package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
)

// TestDeliveriesShowEscapesControlCharacters stores a delivery whose body,
// headers, path and attempt carry terminal escapes (clear the screen, set
// the window title) and checks that `deliveries show` prints them as
// visible escapes, and as they are with --raw.
func TestDeliveriesShowEscapesControlCharacters(t *testing.T) {
	const (
		clear = "\x1b[2J"
		title = "\x1b]0;pwned\x07"
		csi8  = "\u009b2J" // the C1 form of ESC [
		bad   = "\x9b"     // a lone byte some terminals read as CSI
		cr    = "\rforged" // a carriage return that overwrites the line
	)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "postbox.yaml")
	writeFile(t, cfg, "listen: 127.0.0.1:0\nadmin: \"off\"\ndata: "+filepath.Join(dir, "data")+"\nhooks: [{id: gh}]\n")
	ctx := context.Background()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "data", "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	d := &postbox.Delivery{
		ID: "d001", HookID: "gh", Method: "POST", Path: "/gh/" + title,
		Header:     http.Header{"X-Evil": {"a" + clear + "b" + title}, "Content-Type": {"text/plain"}},
		Body:       []byte("line one\n\tindented " + clear + title + csi8 + bad + cr + "\nlast"),
		RemoteAddr: "192.0.2.1:4711", Received: time.Now().Add(-time.Minute), Actions: 1, Key: "k1",
	}
	if err := db.Append(ctx, d); err != nil {
		t.Fatal(err)
	}
	jobs, err := postbox.Claim(ctx, db, 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(jobs))
	}
	a := &postbox.Attempt{Kind: "exec", Started: time.Now(), Duration: time.Millisecond, Outcome: postbox.OutcomeFailed,
		ExitCode: 1, Error: "exit status 1" + title, Output: "out " + clear + title + "\nsecond line\n"}
	if err := postbox.Finish(ctx, db, jobs[0], a, postbox.JobTransition{Next: postbox.StateFailed}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, stderr, err := postboxCmd(t, "deliveries", "show", "--config", cfg, "d001")
	if err != nil {
		t.Fatalf("deliveries show: %v\n%s", err, stderr)
	}
	for _, c := range []string{"\x1b", "\x07", "\u009b", "\x9b", "\r"} {
		if strings.Contains(out, c) {
			t.Errorf("the output holds %q:\n%s", c, out)
		}
	}
	for _, want := range []string{
		`X-Evil: a\x1b[2Jb\x1b]0;pwned\x07`,                      // a header
		`indented \x1b[2J\x1b]0;pwned\x07\u009b2J\x9b\x0dforged`, // the body, tab kept
		"line one\n\tindented",                                   // newlines and tabs of the body stay
		`out \x1b[2J\x1b]0;pwned\x07`,                            // the command's output
		"      second line",                                      // output lines stay lines
		`error: exit status 1\x1b]0;pwned\x07`,                   // the attempt's error
		`POST /gh/\x1b]0;pwned\x07`,                              // the path
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = postboxCmd(t, "deliveries", "list", "--config", cfg)
	if err != nil || strings.Contains(out, "\x1b") || !strings.Contains(out, `/gh/\x1b]0;pwned\x07`) {
		t.Errorf("deliveries list: %v\n%s", err, out)
	}

	out, _, err = postboxCmd(t, "deliveries", "show", "--raw", "--config", cfg, "d001")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{clear + title + csi8 + bad + cr, "out " + clear + title} {
		if !strings.Contains(out, want) {
			t.Errorf("--raw does not print %q as stored:\n%q", want, out)
		}
	}
}

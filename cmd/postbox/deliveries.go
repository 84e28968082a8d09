package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/postbox/postbox"
)

func runDeliveries(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "prune" {
		return runDeliveriesPrune(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "show" && args[0] != "replay") {
		fmt.Fprintln(stderr, "usage: postbox deliveries list|show|replay|prune --config FILE ...")
		return exitError(2)
	}
	sub := args[0]
	fs := flag.NewFlagSet("deliveries "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	hook := fs.String("hook", "", "only deliveries of this hook `id`")
	state := fs.String("state", "", "only deliveries in this state: pending, done, failed, dead")
	limit := fs.Int("limit", 50, "at most `n` deliveries")
	before := fs.String("before", "", "only deliveries older than this `id` (paging)")
	since := fs.String("since", "", "only deliveries received at or after this RFC 3339 `time` or this long ago (24h)")
	raw := fs.Bool("raw", false, "print bodies, headers and output as stored, control characters included (they reach the terminal)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	_, db, closeStore, err := openStoreOf(ctx, loadStoreConfig, *path, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeStore()

	var sinceT time.Time
	if *since != "" {
		if sinceT, err = parseSince(*since, time.Now()); err != nil {
			return err
		}
	}
	if sub == "replay" {
		return replay(ctx, db, fs.Args(), postbox.DeliveryFilter{Hook: *hook, State: postbox.State(*state), Since: sinceT, Limit: *limit}, stdout, stderr)
	}
	if sub == "show" {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "usage: postbox deliveries show --config FILE ID")
			return exitError(2)
		}
		d, err := db.Delivery(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, d)
		}
		printDelivery(stdout, d, *raw)
		return nil
	}
	switch postbox.State(*state) {
	case "", postbox.StatePending, postbox.StateDone, postbox.StateFailed, postbox.StateDead:
	default:
		return fmt.Errorf("--state %q: use pending, done, failed or dead", *state)
	}
	ds, err := db.Deliveries(ctx, postbox.DeliveryFilter{Hook: *hook, State: postbox.State(*state), Limit: *limit, Before: *before, Since: sinceT})
	if err != nil {
		return err
	}
	if *asJSON {
		if ds == nil {
			ds = []*postbox.Delivery{}
		}
		return writeJSON(stdout, ds)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOOK\tSTATE\tMETHOD\tPATH\tRECEIVED")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.HookID, d.State, line(d.Method, *raw), line(d.Path, *raw), d.Received.Format(time.RFC3339))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printDelivery writes d for a person at a terminal. What a client sent
// and what a command printed is escaped unless raw: an escape sequence in
// a body could clear the screen, retitle the window or forge lines.
func printDelivery(w io.Writer, d *postbox.Delivery, raw bool) {
	fmt.Fprintf(w, "Delivery %s\n", d.ID)
	fmt.Fprintf(w, "Hook:     %s\nState:    %s\nReceived: %s\nFrom:     %s\n", line(d.HookID, raw), d.State, d.Received.Format(time.RFC3339Nano), line(d.RemoteAddr, raw))
	target := d.Path
	if len(d.Query) > 0 {
		target += "?" + d.Query.Encode()
	}
	fmt.Fprintf(w, "Request:  %s %s\n\nHeaders:\n", line(d.Method, raw), line(target, raw))
	var hdr strings.Builder
	d.Header.Write(&hdr)
	for _, l := range strings.Split(strings.TrimRight(hdr.String(), "\r\n"), "\r\n") {
		fmt.Fprintf(w, "  %s\n", line(l, raw))
	}
	fmt.Fprintf(w, "\nBody (%d bytes):\n%s\n", len(d.Body), text(string(d.Body), raw))
	if len(d.Attempts) == 0 {
		fmt.Fprintln(w, "\nAttempts: none yet")
		return
	}
	fmt.Fprintln(w, "\nAttempts:")
	for _, a := range d.Attempts {
		fmt.Fprintf(w, "  action %d, attempt %d (%s): %s", a.Action, a.N, a.Kind, a.Outcome)
		if a.Kind == "exec" {
			fmt.Fprintf(w, ", exit code %d", a.ExitCode)
		}
		if a.Status != 0 {
			fmt.Fprintf(w, ", HTTP %d", a.Status)
		}
		fmt.Fprintf(w, ", %s at %s\n", a.Duration.Round(time.Microsecond), a.Started.Format(time.RFC3339))
		if a.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", line(a.Error, raw))
		}
		if a.Output != "" {
			fmt.Fprintf(w, "    output:\n")
			for _, l := range strings.Split(strings.TrimRight(a.Output, "\n"), "\n") {
				fmt.Fprintf(w, "      %s\n", text(l, raw))
			}
			if a.Truncated {
				fmt.Fprintln(w, "      [output truncated]")
			}
		}
	}
}

// parseSince reads an RFC 3339 time or a duration ago.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: use an RFC 3339 time (2026-11-25T10:00:00Z) or a duration (24h)", s)
}

// replay replays the deliveries named by ids, or else those matching f.
// A running server picks the new jobs up within its poll interval.
func replay(ctx context.Context, store postbox.Store, ids []string, f postbox.DeliveryFilter, stdout, stderr io.Writer) error {
	if len(ids) == 0 {
		if f.Hook == "" && f.State == "" && f.Since.IsZero() {
			fmt.Fprintln(stderr, "usage: postbox deliveries replay --config FILE ID... | [--hook H] [--state dead] [--since 24h]")
			return exitError(2)
		}
		ds, err := store.Deliveries(ctx, f)
		if err != nil {
			return err
		}
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
	}
	failed := 0
	for _, id := range ids {
		if err := store.Replay(ctx, id); err != nil {
			fmt.Fprintf(stderr, "%s: %s\n", id, postbox.ErrorMessage(err))
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s: replaying\n", id)
	}
	fmt.Fprintf(stdout, "%d replayed, %d refused\n", len(ids)-failed, failed)
	if failed > 0 {
		return exitError(1)
	}
	return nil
}

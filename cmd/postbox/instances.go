package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/postbox/postbox"
)

// instanceIDs makes the ids instances register with: sortable by start.
var instanceIDs postbox.IDGen

// registerInstance registers this process in db when db keeps instances
// (postbox.Registry): its id, host, pid and version. It returns the id ("" when not
// registered) and a function that marks it stopped, for a clean shutdown.
// A failure to register is logged, not fatal: the instance serves
// without showing in `postbox instances`.
func registerInstance(ctx context.Context, db postbox.Store, logger *slog.Logger) (string, func()) {
	r, ok := db.(postbox.Registry)
	if !ok {
		return "", func() {}
	}
	host, _ := os.Hostname()
	in := &postbox.Instance{ID: instanceIDs.New(time.Now()), Host: host, PID: os.Getpid(), Version: version()}
	if err := r.Register(ctx, in); err != nil {
		logger.Error("registering this instance in the store failed; it serves unlisted", "err", err)
		return "", func() {}
	}
	return in.ID, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Deregister(ctx, in.ID); err != nil {
			logger.Warn("marking this instance stopped failed; it will show as silent", "err", err)
		}
	}
}

// leaseFromEnv reads POSTBOX_LEASE, a lease duration for the queue's jobs
// (renewed every third of it); "" is the default (queue.Lease).
func leaseFromEnv(getenv func(string) string) (time.Duration, error) {
	v := getenv("POSTBOX_LEASE")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 300*time.Millisecond {
		return 0, fmt.Errorf("POSTBOX_LEASE=%q: want a duration of at least 300ms, as 15s", v)
	}
	return d, nil
}

func runInstances(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("instances", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	jobs := fs.Bool("jobs", false, "list the jobs each instance holds")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	cfg, db, closeStore, err := openStoreOf(ctx, loadStoreConfig, *path, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	r, ok := db.(postbox.Registry)
	if !ok {
		return fmt.Errorf("the store %s keeps no instances", storeName(cfg))
	}
	list, now, err := r.Instances(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeInstancesJSON(stdout, list, now)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no instances registered")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tHOST\tPID\tVERSION\tSTARTED\tHEARTBEAT\tJOBS")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s ago\t%d\n", in.ID, in.State, line(in.Host, false), in.PID,
			line(in.Version, false), in.Started.Local().Format(time.DateTime), now.Sub(in.Heartbeat).Round(time.Second), in.Held)
		if *jobs {
			for _, j := range in.Jobs {
				fmt.Fprintf(tw, "  %s\t%s\taction %d\tattempt %d\tleased %s\t\t\t\n", j.Delivery, j.Hook, j.Action, j.Attempt+1,
					j.Until.Sub(now).Round(100*time.Millisecond))
			}
		}
	}
	return tw.Flush()
}

func writeInstancesJSON(w io.Writer, list []*postbox.Instance, now time.Time) error {
	if list == nil {
		list = []*postbox.Instance{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(instancesView{Now: now, Instances: list})
}

// instancesView is what `postbox instances --json` prints.
type instancesView struct {
	Now       time.Time           `json:"now"`
	Instances []*postbox.Instance `json:"instances"`
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/internal/prune"
	"github.com/postbox/postbox/sqlite"
)

// startRetention logs the retention that applies and prunes the store in
// the background, a pass at once and then every retention.interval, until
// the returned stop is called (which waits for the pass under way to
// stop between two batches). An observer with ObservePrune (the admin's
// metrics) sees every pass, and one with SetRetention (GET /api/store)
// learns the retention in force. The retainer is nil for a store that
// cannot prune.
func startRetention(cfg *config.Config, store postbox.Store, logger *slog.Logger, o postbox.Observer) (*prune.Retainer, func()) {
	ps, ok := store.(prune.Store)
	if !ok {
		return nil, func() {}
	}
	rt := prune.NewRetainer(ps, cfg.Retention)
	rt.Logger = logger.With("component", "retention")
	if a, ok := o.(interface{ ObservePrune(prune.Report) }); ok {
		rt.Observe = a.ObservePrune
	}
	if a, ok := o.(interface {
		SetRetention(func() prune.Retention)
	}); ok {
		a.SetRetention(rt.Retention)
	}
	every := cfg.Retention.Interval
	if every <= 0 {
		every = prune.RetentionEvery
	}
	if m, ok := store.(interface{ Migration() sqlite.Migration }); ok {
		mig := m.Migration()
		if len(mig.Applied) > 0 || mig.Converted {
			logger.Info("store schema upgraded", "applied", mig.Applied, "version", mig.Version, "rewritten for incremental vacuum", mig.Converted)
		}
		if mig.Vacuum != "incremental" {
			logger.Warn("the store keeps the space of pruned deliveries for new ones but does not give it back to the disk; run postbox migrate with the server stopped to convert it (a VACUUM, which needs as much free disk as the file)")
		}
	}
	logger.Info("retention", "keeps", config.DescribeRetention(cfg.Retention), "checked every", every)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := rt.Prune(ctx); err != nil && ctx.Err() == nil {
			rt.Logger.Warn("pruning deliveries failed; retrying later", "err", err)
		}
		rt.Run(ctx)
	})
	return rt, func() { cancel(); wg.Wait() }
}

const deliveriesPruneUsage = `Usage: postbox deliveries prune --config FILE [--dry-run] [--json]

Removes the deliveries that the configuration's retention: lets go (a
running server does this by itself every retention.interval), and says
what went, per hook and rule. With --dry-run it only counts them. Pending
deliveries are never removed.
`

// runDeliveriesPrune is `postbox deliveries prune`.
func runDeliveriesPrune(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deliveries prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliveriesPruneUsage) }
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	dry := fs.Bool("dry-run", false, "count what would be removed; remove nothing")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitError(2)
	}
	cfg, db, closeStore, err := openStoreOf(ctx, loadRetentionConfig, *path, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	ps, ok := db.(prune.Store)
	if !ok {
		return fmt.Errorf("%s cannot prune deliveries", storeName(cfg))
	}
	rt := prune.NewRetainer(ps, cfg.Retention)
	var rep prune.Report
	if *dry {
		rep, err = rt.Plan(ctx)
	} else {
		rep, err = rt.Prune(ctx)
	}
	if *asJSON {
		if rep.Removed == nil {
			rep.Removed = []prune.Removed{}
		}
		if jerr := writeJSON(stdout, rep); jerr != nil {
			return jerr
		}
		return err
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	fmt.Fprintf(stdout, "retention: %s\n", config.DescribeRetention(cfg.Retention))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOOK\tRULE\tDELIVERIES")
	for _, r := range rep.Removed {
		hook := r.Hook
		if hook == "" {
			hook = "(store)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", hook, r.Rule, r.N)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%s %d deliveries", verb, rep.Total)
	if *dry {
		fmt.Fprint(stdout, " (one that two rules name is counted under each)")
	}
	fmt.Fprintln(stdout)
	if rep.Stuck {
		fmt.Fprintln(stdout, "the store stays over retention.max_size: only deliveries with work left remain, and they are never removed")
	}
	return err
}

const storeStatsUsage = `Usage: postbox store stats --config FILE [--json]

Says what the configured store holds: its size on disk, its deliveries,
the oldest and newest, the bytes of each hook, how much a day adds at the
last 24 hours' rate, and when it reaches retention.max_size at that rate.
The same is at GET /api/store on the admin listener.
`

// runStoreStats is `postbox store stats`.
func runStoreStats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("store stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, storeStatsUsage) }
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitError(2)
	}
	cfg, db, closeStore, err := openStoreOf(ctx, loadRetentionConfig, *path, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	st, ok := db.(prune.Statser)
	if !ok {
		return fmt.Errorf("%s cannot describe itself", storeName(cfg))
	}
	stats, err := st.StoreStats(ctx, time.Now())
	if err != nil {
		return err
	}
	o := stats.Outlook(cfg.Retention)
	if *asJSON {
		return writeJSON(stdout, o)
	}
	printOutlook(stdout, storeName(cfg), o, config.DescribeRetention(cfg.Retention))
	return nil
}

// printOutlook writes o for a person.
func printOutlook(w io.Writer, name string, o prune.Outlook, retention string) {
	fmt.Fprintf(w, "Store:      %s\n", name)
	fmt.Fprintf(w, "Size:       %s in use", config.FormatBytes(o.Used))
	if o.Free > 0 || o.WAL > 0 {
		fmt.Fprintf(w, " (+ %s free, %s WAL)", config.FormatBytes(o.Free), config.FormatBytes(o.WAL))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Deliveries: %d (%d in the last 24 hours)\n", o.Rows, o.Last24h)
	if o.Rows > 0 {
		fmt.Fprintf(w, "Oldest:     %s\nNewest:     %s\n", o.Oldest.Format(time.RFC3339), o.Newest.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Growth:     %s a day at the last 24 hours' rate\n", config.FormatBytes(o.PerDay))
	fmt.Fprintf(w, "Retention:  %s\n", retention)
	switch {
	case o.Retention.MaxSize == 0:
	case o.FullIn < 0 || o.Used >= o.Retention.MaxSize:
		fmt.Fprintf(w, "Max size:   %s, reached: the oldest settled deliveries are being removed\n", config.FormatBytes(o.Retention.MaxSize))
	case o.FullIn == 0:
		fmt.Fprintf(w, "Max size:   %s, not growing\n", config.FormatBytes(o.Retention.MaxSize))
	default:
		fmt.Fprintf(w, "Max size:   %s, reached in %s at this rate (before age and count limits)\n",
			config.FormatBytes(o.Retention.MaxSize), roundDuration(o.FullIn))
	}
	if len(o.Hooks) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOOK\tDELIVERIES\tBYTES")
		for _, h := range o.Hooks {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", line(h.Hook, false), h.Rows, config.FormatBytes(h.Bytes))
		}
		tw.Flush()
	}
}

// roundDuration writes d in days when it is that long.
func roundDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}

// setRetention applies a reloaded configuration's retention (its interval
// takes effect on restart).
func setRetention(rt *prune.Retainer, next *config.Config, logger *slog.Logger) {
	if rt == nil {
		return
	}
	if config.DescribeRetention(rt.Retention()) != config.DescribeRetention(next.Retention) {
		logger.Info("retention", "keeps", config.DescribeRetention(next.Retention))
	}
	rt.Set(next.Retention)
}

package main

import (
	"context"
	"log/slog"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
)

// startAdmin starts the admin listener (API, console, /metrics) unless
// cfg.Admin is "off". It returns the observer that the ingress and the
// queue report to, and a function that stops the listener. notify wakes
// the queue after a replay. A store with SetCommitObserver(func(d
// time.Duration, n int)) reports its commits for metrics.
func startAdmin(ctx context.Context, cfg *config.Config, store postbox.Store, notify func(), logger *slog.Logger) (postbox.Observer, func(context.Context), error) {
	// Filled in by the admin package's wiring.
	return postbox.NopObserver{}, func(context.Context) {}, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
	"github.com/postbox/postbox/config"
)

// startAdmin starts the admin listener (API, console, /metrics) unless
// cfg.Admin is "off". It returns the observer that the ingress and the
// queue report to, and a function that stops the listener. notify wakes
// the queue after a replay. A store with SetCommitObserver(func(d
// time.Duration, n int)) reports its commits for metrics.
func startAdmin(ctx context.Context, cfg *config.Config, store postbox.Store, q admin.Queue, instance string, notify func(), logger *slog.Logger) (postbox.Observer, func(context.Context), error) {
	if cfg.Admin == "off" {
		return postbox.NopObserver{}, func(context.Context) {}, nil
	}
	srv := admin.New(admin.Options{
		Store:    store,
		Queue:    q,
		Hooks:    cfg.Hooks,
		Token:    cfg.AdminToken,
		Tokens:   adminTokens(cfg.AdminTokens),
		Notify:   notify,
		Logger:   logger.With("listener", "admin"),
		HookBase: hookBase(cfg),
		Addr:     cfg.Admin,
		Hosts:    cfg.AdminHosts,
		Instance: instance,
	})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Admin)
	if err != nil {
		return nil, nil, fmt.Errorf("admin listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The live feed extends its own deadline before every write.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	// Shutdown waits for handlers: the live-feed streams must end first.
	hs.RegisterOnShutdown(srv.Close)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin listener failed", "err", err)
		}
	}()
	logger.Info("admin ready", "addr", ln.Addr().String(), "token", cfg.AdminToken != "", "tokens", len(cfg.AdminTokens))
	stop := func(ctx context.Context) {
		if err := hs.Shutdown(ctx); err != nil {
			logger.Warn("admin requests still running at shutdown", "err", err)
			hs.Close()
		}
		<-served
	}
	return srv, stop, nil
}

// adminTokens converts admin.tokens for the admin listener.
func adminTokens(list []config.AdminToken) []admin.Token {
	out := make([]admin.Token, 0, len(list))
	for _, t := range list {
		out = append(out, admin.Token{Name: t.Name, Secret: t.Token, Scopes: t.Scopes, Hooks: t.Hooks})
	}
	return out
}

// hookBase is the URL of the public listener as the console shows it: a
// wildcard host becomes 127.0.0.1.
func hookBase(cfg *config.Config) string {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return ""
	}
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
		if cfg.TLS.ACME != nil && len(cfg.TLS.ACME.Domains) > 0 {
			host = cfg.TLS.ACME.Domains[0]
		}
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if port == "443" && scheme == "https://" {
		return scheme + host
	}
	return scheme + net.JoinHostPort(host, port)
}

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	phttp "github.com/postbox/postbox/http"
	"github.com/postbox/postbox/internal/prune"
	"github.com/postbox/postbox/queue"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	hooksPath := fs.String("hooks", "", "serve an adnanh/webhook hooks `file` (JSON or YAML), converted as postbox import does; without --config on webhook's 0.0.0.0:9000")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	grace := fs.Duration("grace", 10*time.Second, "on shutdown, how long requests and actions may finish")
	watchEvery := fs.Duration("watch", 2*time.Second, "how often to look for a changed config file (reloaded when valid)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration (defaults filled in, secrets redacted) and exit")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "postbox:", err)
		return exitError(2)
	}
	started := time.Now()
	load := func() (*config.Config, error) { return config.Load(*path, getenv) }
	if *hooksPath != "" {
		// The hooks file is then what is watched and reloaded.
		load, path = hooksLoader(fs, *hooksPath, *path, getenv), hooksPath
	}
	// The version of the file loaded: a change from here on is a reload.
	stamp := func() string { return fileStamp(*path) }
	loaded := stamp()
	cfg, err := loadWith(load, stderr)
	if err != nil {
		return err
	}
	if *printCfg {
		return printConfig(stdout, cfg)
	}
	lease, err := leaseFromEnv(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "postbox:", err)
		return exitError(2)
	}
	return serve(ctx, cfg, serveParams{load: load, stamp: stamp, loaded: loaded, watch: *watchEvery, grace: *grace,
		logger: logger, started: started, lease: lease})
}

// serveParams are what serve needs besides the configuration: how to load
// it again, and what `postbox webhook` does differently.
type serveParams struct {
	load func() (*config.Config, error)
	// stamp identifies the version of the watched files (fileStamp);
	// loaded is the version cfg was loaded from.
	stamp  func() string
	loaded string
	// watch is how often to look for a changed file; 0: only on SIGHUP
	// (and reload signals).
	watch   time.Duration
	grace   time.Duration
	logger  *slog.Logger
	started time.Time
	// listen opens the public listener; nil: TCP on cfg.Listen.
	listen func(cfg *config.Config) (net.Listener, error)
	// listening runs once the listeners are open (webhook's -setuid).
	listening func() error
	// tlsConfig adjusts the public listener's TLS (webhook's
	// -tls-min-version, -cipher-suites).
	tlsConfig func(*tls.Config)
	// rootOK answers / with 200 OK, lenientBody takes a body that does
	// not parse with an empty payload, webhookAnswers refuses requests
	// with webhook's answers: as adnanh/webhook does.
	rootOK, lenientBody, webhookAnswers bool
	// requestIDLimit logs X-Request-Id (webhook's -x-request-id).
	requestIDLimit int
	// reload are more signals that reload the configuration.
	reload []os.Signal
	// lease is the queue's lease (POSTBOX_LEASE), renewed every third of
	// it; 0: queue.Lease.
	lease time.Duration
}

// serve serves cfg until ctx ends: store, queue, admin, the public
// listener, and reloads when the configuration changes.
func serve(ctx context.Context, cfg *config.Config, p serveParams) error {
	logger := p.logger
	db, closeStore, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer closeStore()
	// What the store does in the background (checkpoints, pruning, the
	// PostgreSQL listener) is reported in the server's log.
	if l, ok := db.(interface{ SetLogger(*slog.Logger) }); ok {
		l.SetLogger(logger.With("component", "store"))
	}
	ln, shown, err := listenPublic(cfg, p)
	if err != nil {
		return err
	}
	instance, deregister := registerInstance(ctx, db, logger)
	defer deregister() // after the queue stopped and handed its jobs back
	rt := &serving{p: p, cfg: cfg, live: cfg, stamp: p.loaded, res: &postbox.Resources{}}
	qref := &queueRef{}
	observer, stopAdmin, err := startAdmin(ctx, shown, db, qref, instance, func() { rt.q.Notify() }, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopAdmin(context.Background())
	rt.observer = observer
	var stopRetention func()
	rt.retainer, stopRetention = startRetention(cfg, db, logger, observer)
	defer stopRetention()
	// What the actions and verifiers of every configuration loaded from
	// here on share (one connection per MQTT broker); a reload hands it
	// over to the next configuration.
	defer rt.res.Close()
	if err := cfg.Provision(rt.res); err != nil {
		ln.Close()
		return err
	}
	rt.q = queue.New(queue.Options{Store: db, Hooks: cfg.Hooks, Logger: logger, Workers: cfg.Workers, IOWorkers: cfg.IOWorkers,
		Destinations: destinationPolicies(cfg.Destinations), Grace: p.grace, Observer: observer,
		Instance: instance, Lease: p.lease, RenewEvery: p.lease / 3})
	qref.p.Store(rt.q)
	rt.srv = newPublicServer(cfg, p, db, rt.q, observer)
	pub, err := startTLS(cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	if pub.config != nil && p.tlsConfig != nil {
		p.tlsConfig(pub.config)
	}
	if p.listening != nil {
		if err := p.listening(); err != nil {
			ln.Close()
			return err
		}
	}

	return rt.run(ctx, ln, pub, instance)
}

// run serves until ctx ends or the listener fails, then shuts down within
// the grace: the queue drains while the listener finishes its requests.
func (rt *serving) run(ctx context.Context, ln net.Listener, pub *publicTLS, instance string) error {
	qctx, stopQueue := context.WithCancel(context.WithoutCancel(ctx))
	defer stopQueue()
	var wg sync.WaitGroup
	wg.Add(2)
	serveErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		serveErr <- pub.serve(rt.srv, ln)
	}()
	go func() {
		defer wg.Done()
		rt.q.Run(qctx)
	}()
	// Give back what loading the configuration and the packages' init
	// left behind (about 1 MiB on a Raspberry Pi's budget).
	go debug.FreeOSMemory()
	// Reload signals are caught from before "ready": one sent as soon as
	// it is logged is not lost (nor, for SIGHUP, fatal).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, append([]os.Signal{syscall.SIGHUP}, rt.p.reload...)...)
	defer signal.Stop(hup)
	logger := rt.p.logger
	logger.Info("ready", "addr", ln.Addr().String(), "hooks", len(rt.cfg.Hooks), "config", rt.cfg.File,
		"store", storeName(rt.cfg), "instance", instance, "startup", time.Since(rt.p.started))

	err := rt.wait(ctx, serveErr, hup)

	logger.Info("shutting down", "grace", rt.p.grace)
	// One grace for everything: the queue drains while the listener
	// finishes its requests.
	stopQueue()
	sctx, cancel := context.WithTimeout(context.Background(), rt.p.grace)
	defer cancel()
	if serr := rt.srv.Shutdown(sctx); serr != nil {
		logger.Warn("requests still running at shutdown", "err", serr)
	}
	pub.stop(sctx)
	wg.Wait()
	if cerr := rt.live.Cleanup(); cerr != nil {
		logger.Warn("cleaning up the config", "err", cerr)
	}
	rt.res.Close()
	logger.Info("stopped")
	return err
}

// listenPublic opens the public listener, and returns the configuration
// as the console shows it: its hook URLs name the port bound, listen:
// ...:0 included.
func listenPublic(cfg *config.Config, p serveParams) (net.Listener, *config.Config, error) {
	listen := p.listen
	if listen == nil {
		listen = func(cfg *config.Config) (net.Listener, error) { return net.Listen("tcp", cfg.Listen) }
	}
	ln, err := listen(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	shown := *cfg
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		if host, _, err := net.SplitHostPort(cfg.Listen); err == nil {
			shown.Listen = net.JoinHostPort(host, strconv.Itoa(a.Port))
		}
	}
	return ln, &shown, nil
}

// newPublicServer builds the ingress for cfg's hooks.
func newPublicServer(cfg *config.Config, p serveParams, db postbox.Store, q *queue.Queue, observer postbox.Observer) *phttp.Server {
	return phttp.NewServer(phttp.Options{
		RootOK:         p.rootOK,
		LenientBody:    p.lenientBody,
		WebhookAnswers: p.webhookAnswers,
		RequestIDLimit: p.requestIDLimit,
		Store:          db,
		Logger:         p.logger,
		Hooks:          cfg.Hooks,
		Notify:         q.Notify,
		Runner:         q,
		Observer:       observer,
		TrustedProxies: cfg.TrustedProxies,
		Limits: phttp.Limits{
			MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
			ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
			ReadTimeout:       cfg.Limits.ReadTimeout,
			WriteTimeout:      cfg.Limits.WriteTimeout,
			IdleTimeout:       cfg.Limits.IdleTimeout,
			MaxInflight:       cfg.Limits.MaxInflight,
		},
	})
}

// serving is what a running serve changes on a reload.
type serving struct {
	p        serveParams
	cfg      *config.Config // the configuration the listeners were opened with
	live     *config.Config // the configuration whose hooks serve
	stamp    string         // the version of the files live was loaded from
	res      *postbox.Resources
	q        *queue.Queue
	srv      *phttp.Server
	retainer *prune.Retainer
	observer postbox.Observer
}

// wait serves until ctx ends or the listener fails, reloading on a reload
// signal and, with p.watch, when the configuration's files change.
func (rt *serving) wait(ctx context.Context, serveErr <-chan error, hup <-chan os.Signal) error {
	var tick <-chan time.Time
	if rt.p.watch > 0 {
		watch := time.NewTicker(rt.p.watch)
		defer watch.Stop()
		tick = watch.C
	}
	seen := rt.stamp
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return fmt.Errorf("serve: %w", err)
		case sig := <-hup:
			why := "SIGHUP"
			if sig != syscall.SIGHUP {
				why = sig.String()
			}
			rt.reload(why)
		case <-tick:
			// Reload once the file stopped changing for a tick, so that a
			// file caught half-written is not loaded.
			st := rt.p.stamp()
			if st != rt.stamp && st == seen {
				rt.reload("file changed")
			}
			seen = st
		}
	}
}

// reload loads the configuration again and, when it is sound, serves its
// hooks; a configuration with problems leaves the live one serving.
func (rt *serving) reload(why string) {
	logger := rt.p.logger
	rt.stamp = rt.p.stamp()
	next, err := rt.p.load()
	if err != nil {
		logger.Error("config reload refused; the previous config keeps serving", "why", why, "problems", err.Error())
		return
	}
	cfg := rt.cfg
	if next.Listen != cfg.Listen || next.Data != cfg.Data || next.Store != cfg.Store || next.Admin != cfg.Admin || !sameTLS(next.TLS, cfg.TLS) {
		logger.Warn("listen, admin, data, store and tls changes take effect on restart only")
	}
	// Provisioned before it serves: a broker both configurations use
	// keeps its connection, handed over rather than reopened.
	if err := next.Provision(rt.res); err != nil {
		logger.Error("config reload refused; the previous config keeps serving", "why", why, "problems", err.Error())
		return
	}
	rt.srv.SetHooks(next.Hooks)
	rt.q.SetHooks(next.Hooks)
	setRetention(rt.retainer, next, logger)
	if a, ok := rt.observer.(interface{ SetHooks([]*postbox.Hook) }); ok {
		a.SetHooks(next.Hooks)
	}
	// Cleaned up once nothing new reaches it: a connection only the
	// previous configuration used closes as soon as its actions still
	// running are done with it.
	prev := rt.live
	rt.live = next
	if err := prev.Cleanup(); err != nil {
		logger.Warn("cleaning up the previous config", "err", err)
	}
	logger.Info("config reloaded", "why", why, "hooks", len(next.Hooks))
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, errors.New("--log-format must be text or json")
	}
}

// fileStamp identifies a version of the file at path (size and mtime), or
// "" when it cannot be read; a change triggers a reload.
func fileStamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
}

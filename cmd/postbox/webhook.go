package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/postbox/postbox/compat/webhook"
	"github.com/postbox/postbox/config"
	"gopkg.in/yaml.v3"
)

const webhookUsage = `Usage: postbox webhook [adnanh/webhook's flags] [--data DIR] [--admin ADDR]

Serves adnanh/webhook hook definitions (hooks.json or hooks.yaml) as webhook
2.8 does, with its flags and defaults, and postbox underneath: every request
is stored, commands run from a queue, the console and /metrics are on
--admin. The same as running the binary under the name "webhook".
See docs/migrating-from-webhook.md.

Flags:
`

// stringList is a flag that may be given several times (-hooks, -header).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// webhookFlags are adnanh/webhook 2.8's flags, plus postbox's own.
type webhookFlags struct {
	hooks, headers                     stringList
	ip, socket, urlprefix, httpMethods string
	port                               int
	verbose, debug, hotreload          bool
	template, nopanic, secure          bool
	cert, key, tlsMin, ciphers         string
	listCiphers, version               bool
	logfile, pidfile                   string
	workers                            int
	xRequestID                         bool
	xRequestIDLimit                    int
	setuid, setgid                     int
	maxMultipartMem                    int64
	// postbox's own
	data, admin, logFormat, maxBody string
	grace, commandTimeout           time.Duration
}

func parseWebhookFlags(args []string, stderr io.Writer) (*webhookFlags, error) {
	f := &webhookFlags{}
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, webhookUsage); fs.PrintDefaults() }
	fs.Var(&f.hooks, "hooks", "path to the hooks file (JSON or YAML); may be given several times")
	fs.StringVar(&f.ip, "ip", "0.0.0.0", "ip the webhook should serve hooks on")
	fs.IntVar(&f.port, "port", 9000, "port the webhook should serve hooks on")
	fs.StringVar(&f.socket, "socket", "", "path to a Unix socket to serve hooks on, instead of -ip and -port")
	fs.StringVar(&f.urlprefix, "urlprefix", "hooks", "url prefix to use for served hooks (protocol://yourserver:port/PREFIX/:hook-id)")
	fs.StringVar(&f.httpMethods, "http-methods", "", `set default allowed HTTP methods (ie. "POST"); separate methods with comma`)
	fs.Var(&f.headers, "header", "response header to return, specified in format name=value; may be given several times")
	fs.BoolVar(&f.verbose, "verbose", false, "show verbose output")
	fs.BoolVar(&f.debug, "debug", false, "show debug output")
	fs.BoolVar(&f.hotreload, "hotreload", false, "watch hooks files for changes and reload them automatically")
	fs.BoolVar(&f.template, "template", false, "parse hooks files as Go templates (getenv, cat, credential)")
	fs.BoolVar(&f.nopanic, "nopanic", false, "do not exit if no hooks can be loaded when not running in verbose mode")
	fs.BoolVar(&f.secure, "secure", false, "use HTTPS instead of HTTP")
	fs.StringVar(&f.cert, "cert", "cert.pem", "path to the HTTPS certificate pem file")
	fs.StringVar(&f.key, "key", "key.pem", "path to the HTTPS certificate private key pem file")
	fs.StringVar(&f.tlsMin, "tls-min-version", "1.2", "minimum TLS version (1.0, 1.1, 1.2, 1.3)")
	fs.StringVar(&f.ciphers, "cipher-suites", "", "comma-separated list of supported TLS cipher suites")
	fs.BoolVar(&f.listCiphers, "list-cipher-suites", false, "list available TLS cipher suites")
	fs.StringVar(&f.logfile, "logfile", "", "send log output to a file; implicitly enables verbose logging")
	fs.StringVar(&f.pidfile, "pidfile", "", "create PID file at the given path")
	fs.BoolVar(&f.xRequestID, "x-request-id", false, "use X-Request-Id header, if present, as request ID in the log")
	fs.IntVar(&f.xRequestIDLimit, "x-request-id-limit", 0, "truncate X-Request-Id header to limit; default no limit")
	fs.IntVar(&f.setuid, "setuid", 0, "set user ID after opening listening port; must be used with setgid")
	fs.IntVar(&f.setgid, "setgid", 0, "set group ID after opening listening port; must be used with setuid")
	fs.Int64Var(&f.maxMultipartMem, "max-multipart-mem", 1<<20, "maximum memory in bytes for parsing multipart form data before disk caching")
	fs.BoolVar(&f.version, "version", false, "display webhook version and quit")
	fs.StringVar(&f.data, "data", "postbox-data", "postbox: directory of the store that keeps every request")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:8081", "postbox: address of the console, API and /metrics; off to disable")
	fs.StringVar(&f.logFormat, "log-format", "text", "postbox: log format, text or json")
	fs.StringVar(&f.maxBody, "max-body", "16MiB", "postbox: the largest body taken (webhook had no limit)")
	fs.IntVar(&f.workers, "workers", 0, "postbox: how many commands run at once, others wait in the queue (0: the number of CPUs; webhook had no limit)")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "postbox: on shutdown, how long requests and commands may finish")
	fs.DurationVar(&f.commandTimeout, "command-timeout", time.Hour, "postbox: how long a command may run before it is killed (webhook had no limit)")
	if err := fs.Parse(args); err != nil {
		return nil, exitError(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "postbox webhook: unexpected argument %q\n", fs.Arg(0))
		return nil, exitError(2)
	}
	if (f.setuid == 0) != (f.setgid == 0) {
		fmt.Fprintln(stderr, "postbox webhook: -setuid and -setgid must be used together")
		return nil, exitError(2)
	}
	if len(f.hooks) == 0 {
		// webhook's default.
		f.hooks = stringList{"hooks.json"}
	}
	return f, nil
}

// runWebhook is `postbox webhook`, and the binary run under the name
// "webhook".
func runWebhook(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseWebhookFlags(args, stderr)
	if err != nil {
		return err
	}
	switch {
	case f.version:
		fmt.Fprintln(stdout, "webhook version 2.8.2 (postbox", version()+")")
		return nil
	case f.listCiphers:
		for _, c := range tls.CipherSuites() {
			fmt.Fprintln(stdout, c.Name)
		}
		return nil
	}
	tlsTweak, err := f.tlsSettings()
	if err == nil {
		_, err = f.options()
	}
	if err != nil {
		fmt.Fprintln(stderr, "postbox webhook:", err)
		return exitError(2)
	}
	logger, closeLog, err := f.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "postbox webhook:", err)
		return exitError(2)
	}
	defer closeLog()
	if f.pidfile != "" {
		if err := os.WriteFile(f.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintln(stderr, "postbox webhook: -pidfile:", err)
			return exitError(1)
		}
		defer os.Remove(f.pidfile)
	}
	if f.maxMultipartMem != 1<<20 {
		logger.Info("-max-multipart-mem is accepted and has no effect: multipart parts are read up to 1 MiB each")
	}
	base, err := f.baseConfig()
	if err != nil {
		fmt.Fprintln(stderr, "postbox webhook:", err)
		return exitError(2)
	}
	load := func() (*config.Config, error) { return f.load(base, getenv, logger) }
	stamp := func() string {
		var b strings.Builder
		for _, h := range f.hooks {
			b.WriteString(fileStamp(h) + ";")
		}
		return b.String()
	}
	started, loaded := time.Now(), stamp()
	cfg, err := load()
	if err != nil {
		if !f.nopanic && !f.verbose {
			printLoadError(err, stderr)
			fmt.Fprintln(stderr, "postbox webhook: couldn't load any hooks from file! (-nopanic serves none until the file loads)")
			return exitError(1)
		}
		logger.Error("couldn't load the hooks; serving none until they load", "problems", err.Error())
		// A configuration must have a hook; this one is dropped at once.
		none := append(append([]byte(nil), base...), "hooks: [{id: none}]\n"...)
		if cfg, err = config.Parse("postbox webhook", none, getenv); err != nil {
			printLoadError(err, stderr)
			return exitError(1)
		}
		cfg.Hooks = nil
	}
	p := f.serveParams(tlsTweak)
	p.load, p.stamp, p.loaded, p.logger, p.started = load, stamp, loaded, logger, started
	if f.socket != "" {
		defer os.Remove(f.socket)
	}
	return serve(ctx, cfg, p)
}

// serveParams are what the flags change in serving: webhook's answers,
// reloads, the listener, the request id, the ids to run as.
func (f *webhookFlags) serveParams(tlsTweak func(*tls.Config)) serveParams {
	p := serveParams{grace: f.grace, rootOK: true, lenientBody: true, webhookAnswers: true,
		tlsConfig: tlsTweak, reload: []os.Signal{syscall.SIGUSR1}}
	if f.hotreload {
		p.watch = time.Second
	}
	if f.xRequestID {
		p.requestIDLimit = -1
		if f.xRequestIDLimit > 0 {
			p.requestIDLimit = f.xRequestIDLimit
		}
	}
	if f.socket != "" {
		p.listen = func(*config.Config) (net.Listener, error) {
			// A socket left by a process that is gone would refuse
			// the listener.
			if fi, err := os.Lstat(f.socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
				os.Remove(f.socket)
			}
			return net.Listen("unix", f.socket)
		}
	}
	if f.setuid != 0 {
		p.listening = func() error { return dropPrivileges(f.setuid, f.setgid) }
	}
	return p
}

// logger logs as webhook does: nothing but errors unless -verbose (or
// -logfile, or -debug).
func (f *webhookFlags) logger(stderr io.Writer) (*slog.Logger, func(), error) {
	level := "warn"
	if f.verbose || f.logfile != "" {
		level = "info"
	}
	if f.debug {
		level = "debug"
	}
	w, closeLog := stderr, func() {}
	if f.logfile != "" {
		file, err := os.OpenFile(f.logfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("-logfile: %w", err)
		}
		w, closeLog = file, func() { file.Close() }
	}
	logger, err := newLogger(w, f.logFormat, level)
	if err != nil {
		closeLog()
		return nil, nil, err
	}
	return logger, closeLog, nil
}

// baseConfig is the postbox configuration the flags make, without hooks.
func (f *webhookFlags) baseConfig() ([]byte, error) {
	type tlsFiles struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	}
	var c struct {
		Listen  string            `yaml:"listen"`
		Admin   string            `yaml:"admin"`
		Data    string            `yaml:"data"`
		Limits  map[string]string `yaml:"limits"`
		Workers int               `yaml:"workers,omitempty"`
		TLS     *tlsFiles         `yaml:"tls,omitempty"`
	}
	c.Limits = map[string]string{"max_body": f.maxBody}
	c.Workers = f.workers
	c.Listen = net.JoinHostPort(f.ip, strconv.Itoa(f.port))
	if f.socket != "" {
		// The unix socket is the listener; listen: only has to be valid.
		c.Listen = "127.0.0.1:0"
	}
	c.Admin = f.admin
	var err error
	if c.Data, err = filepath.Abs(f.data); err != nil {
		return nil, err
	}
	if f.secure {
		cert, err := filepath.Abs(f.cert)
		if err != nil {
			return nil, err
		}
		key, err := filepath.Abs(f.key)
		if err != nil {
			return nil, err
		}
		c.TLS = &tlsFiles{Cert: cert, Key: key}
	}
	out, err := yaml.Marshal(&c)
	// ${ in a path is a path, not a variable.
	return bytes.ReplaceAll(out, []byte("${"), []byte("$${")), err
}

// options are the conversion options the flags make.
func (f *webhookFlags) options() (webhook.Options, error) {
	opts := webhook.Options{Serve: true, URLPrefix: f.urlprefix, NoPrefix: strings.Trim(f.urlprefix, "/") == "",
		CommandTimeout: f.commandTimeout}
	for _, m := range strings.Split(f.httpMethods, ",") {
		if m = strings.TrimSpace(m); m != "" {
			opts.Methods = append(opts.Methods, m)
		}
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return opts, fmt.Errorf("-header %q: write name=value", h)
		}
		opts.Headers = append(opts.Headers, [2]string{strings.TrimSpace(name), value})
	}
	return opts, nil
}

// load reads, renders (-template) and converts every hooks file and
// loads the result into base. What does not convert is logged, not
// refused: it fails closed, and webhook serves such files too.
func (f *webhookFlags) load(base []byte, getenv func(string) string, logger *slog.Logger) (*config.Config, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	var hooks []*yaml.Node
	for _, path := range f.hooks {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if f.template {
			if data, err = renderHooks(path, data, getenv); err != nil {
				return nil, err
			}
		}
		res, err := webhook.ConvertWith(path, data, opts)
		if err != nil {
			return nil, err
		}
		for _, p := range res.Problems {
			logger.Warn("hook part not converted; it fails closed", "problem", p.Format(path))
		}
		hooks = append(hooks, res.Hooks...)
	}
	text, err := webhook.AddHooks(base, hooks)
	if err != nil {
		return nil, err
	}
	name := strings.Join(f.hooks, ", ") + " (converted)"
	return config.Parse(name, text, getenv)
}

// renderHooks renders a hooks file as webhook's -template does: a Go
// template with getenv, cat (a file's text) and credential (a systemd
// credential's).
func renderHooks(path string, data []byte, getenv func(string) string) ([]byte, error) {
	funcs := template.FuncMap{
		"getenv": getenv,
		"cat": func(name string) (string, error) {
			b, err := os.ReadFile(name)
			return string(b), err
		},
		"credential": func(name string) (string, error) {
			dir := getenv("CREDENTIALS_DIRECTORY")
			if dir == "" {
				return "", fmt.Errorf("credential %q: CREDENTIALS_DIRECTORY is not set", name)
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			return string(b), err
		},
	}
	t, err := template.New(filepath.Base(path)).Funcs(funcs).Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("-template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("-template: %w", err)
	}
	return b.Bytes(), nil
}

// tlsVersions are -tls-min-version's values.
var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// tlsSettings returns what -tls-min-version and -cipher-suites change in
// the listener's TLS configuration.
func (f *webhookFlags) tlsSettings() (func(*tls.Config), error) {
	min, ok := tlsVersions[f.tlsMin]
	if !ok {
		return nil, fmt.Errorf("-tls-min-version %q: use 1.0, 1.1, 1.2 or 1.3", f.tlsMin)
	}
	var suites []uint16
	for _, name := range strings.Split(f.ciphers, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		i := slices.IndexFunc(tls.CipherSuites(), func(c *tls.CipherSuite) bool { return c.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("-cipher-suites: %q is not a cipher suite (see -list-cipher-suites)", name)
		}
		suites = append(suites, tls.CipherSuites()[i].ID)
	}
	return func(c *tls.Config) {
		c.MinVersion = min
		if suites != nil {
			c.CipherSuites = suites
		}
	}, nil
}

// dropPrivileges is -setuid/-setgid: the listeners are open, the rest
// runs as the given ids.
func dropPrivileges(uid, gid int) error {
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("-setgid: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("-setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("-setuid: %w", err)
	}
	return nil
}

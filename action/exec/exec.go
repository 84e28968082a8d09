// Package exec is the action that runs a command: argv only, never a shell,
// so that payload data can never become code. A command that runs past its
// timeout is killed with its whole process group.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"sort"
	"sync"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/tmpl"
)

// DefaultTimeout is how long a command may run when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MaxOutput is how much of a command's combined stdout and stderr is kept.
const MaxOutput = 64 << 10

// Config is the `exec:` block of an action.
type Config struct {
	Command string            `yaml:"command"`
	Args    []string          `yaml:"args"`
	Env     map[string]string `yaml:"env"`
	// InheritEnv names the variables of postbox's environment the
	// command gets besides PATH, LANG, TZ and HOME (or all, with true).
	InheritEnv InheritEnv    `yaml:"inherit_env"`
	Dir        string        `yaml:"dir"`
	Timeout    time.Duration `yaml:"timeout"`
	// User and Group name the account the command runs as (names or
	// numeric ids; Group defaults to the user's primary group). Only a
	// postbox running as root may set them.
	User  string `yaml:"user"`
	Group string `yaml:"group"`
	// Stdin is a template rendered onto the command's standard input
	// ("{{ .Body }}" passes the body whatever its size); empty: none.
	Stdin string `yaml:"stdin"`
	// Files are templates each written to a private temporary file whose
	// path is in the environment variable of its name; removed after the
	// run.
	Files map[string]string `yaml:"files"`
	// LookupAtRun finds the command when it runs rather than when the
	// configuration loads: a missing command fails the action, not the
	// configuration (as adnanh/webhook does; postbox webhook sets it).
	LookupAtRun bool `yaml:"lookup_at_run"`
}

// Action runs one configured command.
type Action struct {
	command string
	args    []postbox.Template
	env     []envVar
	inherit InheritEnv
	dir     string
	timeout time.Duration
	runAs   *runAs // nil: postbox's own user
	stdin   postbox.Template
	files   []fileVar
}

type envVar struct {
	name string
	tmpl postbox.Template
}

var _ postbox.Action = (*Action)(nil)

// New compiles c. Problems are returned as *postbox.FieldError values (joined), Field relative to the block.
func New(c Config) (*Action, error) {
	var errs []error
	a := &Action{command: c.Command, dir: c.Dir, timeout: c.Timeout, inherit: c.InheritEnv}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if c.Command == "" {
		errs = append(errs, &postbox.FieldError{Field: "command", Message: "is empty"})
	} else if _, err := osexec.LookPath(c.Command); err != nil && !c.LookupAtRun {
		errs = append(errs, &postbox.FieldError{Field: "command", Message: fmt.Sprintf("%q is not an executable file or not in PATH", c.Command)})
	}
	for i, s := range c.Args {
		t, err := tmpl.Parse(fmt.Sprintf("args[%d]", i), s)
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: fmt.Sprintf("args[%d]", i), Message: "is not a valid template: " + err.Error()})
			continue
		}
		a.args = append(a.args, t)
	}
	names := make([]string, 0, len(c.Env))
	for k := range c.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t, err := tmpl.Parse("env."+k, c.Env[k])
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: "env." + k, Message: "is not a valid template: " + err.Error()})
			continue
		}
		a.env = append(a.env, envVar{k, t})
	}
	errs = append(errs, c.InheritEnv.check()...)
	errs = append(errs, a.compileInput(c)...)
	if c.Dir != "" {
		if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
			errs = append(errs, &postbox.FieldError{Field: "dir", Message: fmt.Sprintf("%q is not a directory", c.Dir)})
		}
	}
	if c.User != "" || c.Group != "" {
		var err error
		if a.runAs, err = lookupRunAs(c.User, c.Group, c.Env); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// Templates returns the action's templates, for validation.
func (a *Action) Templates() []postbox.Template {
	out := append([]postbox.Template(nil), a.args...)
	for _, e := range a.env {
		out = append(out, e.tmpl)
	}
	for _, f := range a.files {
		out = append(out, f.tmpl)
	}
	if a.stdin != nil {
		out = append(out, a.stdin)
	}
	return out
}

// Kind returns "exec".
func (a *Action) Kind() string { return "exec" }

// Timeout returns the longest the command may run.
func (a *Action) Timeout() time.Duration { return a.timeout }

// Run runs the command once, with args and env rendered from data.
func (a *Action) Run(ctx context.Context, data *postbox.TemplateData) postbox.Result {
	args := make([]string, len(a.args))
	for i, t := range a.args {
		s, err := t.Execute(data)
		if err != nil {
			return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("args[%d]: %w", i, err), Permanent: true}
		}
		args[i] = s
	}
	// Not postbox's whole environment: it holds postbox's own secrets,
	// and what a command prints is stored and shown in the console.
	env := append(a.inherit.environ(a.runAs.switchesUser()), "POSTBOX_DELIVERY="+data.Delivery.ID, "POSTBOX_HOOK="+data.Hook.ID)
	for _, e := range a.env {
		s, err := e.tmpl.Execute(data)
		if err != nil {
			return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("env.%s: %w", e.name, err), Permanent: true}
		}
		env = append(env, e.name+"="+s)
	}
	in, err := a.prepare(data)
	if err != nil {
		return postbox.Result{Outcome: postbox.OutcomeError, Err: err, Permanent: true}
	}
	defer in.cleanup()
	env = append(env, in.env...)

	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	cmd := osexec.CommandContext(ctx, a.command, args...)
	cmd.Env = env
	cmd.Dir = a.dir
	out := &boundedBuffer{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	if w := postbox.OutputOf(ctx); w != nil {
		cmd.Stdout = io.MultiWriter(out, &liveOutput{w: w})
	}
	cmd.Stdin = in.stdin
	killGroupOnCancel(cmd)
	if a.runAs != nil {
		a.runAs.apply(cmd)
	}
	// Children that keep stdout open must not hold Wait forever.
	cmd.WaitDelay = time.Second

	start := time.Now()
	err = cmd.Run()
	res := postbox.Result{Output: out.String(), Truncated: out.truncated}
	var exitErr *osexec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		res.Outcome, res.ExitCode, res.Err = postbox.OutcomeTimeout, -1, fmt.Errorf("killed: still running after %s", time.Since(start).Round(time.Millisecond))
	case ctx.Err() != nil:
		res.Outcome, res.ExitCode, res.Err = postbox.OutcomeError, -1, fmt.Errorf("stopped: %w", ctx.Err())
	case err == nil:
		res.Outcome = postbox.OutcomeOK
	case errors.Is(err, osexec.ErrWaitDelay) && cmd.ProcessState != nil:
		// The command exited; something it started in the background
		// still holds its output (a deploy script starting a service).
		// Its exit code decides; the rest of the output is not kept.
		res.ExitCode = cmd.ProcessState.ExitCode()
		res.Outcome = postbox.OutcomeOK
		if res.ExitCode != 0 {
			res.Outcome, res.Err = postbox.OutcomeFailed, fmt.Errorf("exit status %d", res.ExitCode)
		}
	case errors.As(err, &exitErr):
		res.Outcome, res.ExitCode, res.Err = postbox.OutcomeFailed, exitErr.ExitCode(), fmt.Errorf("exit status %d", exitErr.ExitCode())
	default:
		res.Outcome, res.ExitCode, res.Err = postbox.OutcomeError, -1, err
	}
	return res
}

// boundedBuffer keeps the first max bytes written and counts the rest.
type boundedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package postbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Hook is one configured webhook endpoint, ready to serve: config.Load builds
// it from YAML, with its verifiers, actions and templates already compiled.
type Hook struct {
	ID      string
	Path    string   // a net/http ServeMux path pattern, e.g. /gh/{repo}
	Methods []string // allowed methods, upper case; never empty once loaded
	// Auth lists the checks a request must pass; every one must pass.
	Auth []Verifier
	// AuthNames names each of Auth's checks as configured ("github").
	AuthNames []string
	// Actions run in order after the delivery is stored.
	Actions  []Action
	Response Response
	// MaxBody caps the request body in bytes.
	MaxBody int64
	// Retry says how often a failed action is tried again.
	Retry RetryPolicy
	// ContinueOnError runs the following actions after one failed; the
	// delivery still ends failed.
	ContinueOnError bool
	// Dedup drops repeats of a delivery; see Store.Append.
	Dedup Dedup
	// Concurrency caps this hook's actions running at once (0: only the
	// global worker count applies).
	Concurrency int
	// OrderKey, when set, renders a key per delivery; deliveries with the
	// same key run their actions one after another, in arrival order
	// (order: per-key).
	OrderKey Template
	// Sync runs the actions before answering, within SyncTimeout, so that
	// the response may show their results (.Result).
	Sync        bool
	SyncTimeout time.Duration

	// Accept lists the media types the hook takes (application/json, ...);
	// empty means any. Others are answered 415.
	Accept []string
	// Vars are named values computed from the request, in order, for
	// conditions and templates (.Vars).
	Vars []Var
	// When, if set, must be true for the request to be for this hook.
	// Hooks sharing a path are tried in order; the first that matches runs.
	When Expr
	// Schema, if set, validates the parsed payload; failures answer 422.
	Schema Validator
	// AcceptUnmatched stores a request that matched no hook of its path
	// under this hook, without actions, and answers 200 (on_unmatched:
	// accept), instead of 422.
	AcceptUnmatched bool
}

// Expr is a compiled expression over a request (see package celrule). env
// holds payload, header, query, path, method, body, remote and vars.
type Expr interface {
	Eval(env map[string]any) (any, error)
	EvalBool(env map[string]any) (bool, error)
	String() string
}

// Var is one named value of a hook's vars.
type Var struct {
	Name string
	Expr Expr
}

// Validator checks a parsed payload against a schema. A failure returns
// an *Error with code EUNPROCESSABLE and Details.
type Validator interface {
	Validate(payload any) error
}

// Env returns the variables conditions and vars see for data. remote is
// the client's host:port: conditions see its IP as remote (so that
// remote == "127.0.0.1" means what it says) and all of it as remote_addr.
func Env(data *TemplateData, method, remote string) map[string]any {
	ip := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		ip = host
	}
	return map[string]any{
		"payload":     data.Payload,
		"header":      data.Header, // indexed case-insensitively
		"query":       data.Query,
		"path":        data.Path,
		"method":      method,
		"body":        data.Body,
		"remote":      ip,
		"remote_addr": remote,
		"vars":        data.Vars,
	}
}

// EvalVars computes h's vars into data.Vars (and env["vars"]). A var that
// fails to evaluate (a missing field) is left out and its error returned
// after the others are computed.
func (h *Hook) EvalVars(data *TemplateData, env map[string]any) error {
	if len(h.Vars) == 0 {
		return nil
	}
	data.Vars = make(map[string]any, len(h.Vars))
	env["vars"] = data.Vars
	var first error
	for _, v := range h.Vars {
		val, err := v.Expr.Eval(env)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("vars.%s: %w", v.Name, err)
			}
			continue
		}
		data.Vars[v.Name] = val
	}
	return first
}

// Dedup says how to recognise a repeated delivery. With Key nil and an
// auth method that knows the provider's delivery id (signature.Identifier),
// that id is the key.
type Dedup struct {
	Key    Template      // renders the key; "" means no dedup for that request
	Window time.Duration // how long a key is remembered
}

// Response is what a hook answers to an accepted request.
type Response struct {
	Status int
	Header http.Header
	Body   Template // nil means a JSON body with the delivery id
	// ErrorStatus is the status of a sync hook's answer when an action
	// failed; the body template still runs, with .Result.
	ErrorStatus int
	// ExitStatus maps a sync hook's last command's exit code to the
	// answer's status (exit_status: {0: 200, 3: 404}).
	ExitStatus map[int]int
	// Stream sends a sync hook's command output to the client as it is
	// written, with the outcome in trailers, instead of Body after the
	// run (see OutputTo).
	Stream bool
}

// RetryPolicy is how a failed action is retried. The zero value tries once.
type RetryPolicy struct {
	Attempts   int           // total attempts, including the first; 0 or 1 means no retry
	Backoff    time.Duration // delay before the first retry
	MaxBackoff time.Duration // cap on the exponential delay
}

// Verifier decides whether a request may call a hook. body is the raw body as
// received. A failed check returns an *Error with code EUNAUTH whose Detail
// says why (for logs), never the secret.
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}

// Action is one thing a delivery does once it is stored: run a command, call
// an HTTP endpoint, publish to MQTT.
type Action interface {
	// Kind names the action ("exec", "http", "mqtt") for attempts and logs.
	Kind() string
	// Run performs the action once. It must return when ctx is done.
	Run(ctx context.Context, data *TemplateData) Result
}

// Destined is implemented by actions that talk to something: the queue
// limits, paces and pauses the calls to each destination on its own, so
// that a slow or broken one does not hold up the others.
type Destined interface {
	Destination() Destination
}

// Destination is what an action talks to. Actions that share a Name share
// its limits and its circuit breaker.
type Destination struct {
	// Name identifies it: "http://host:port" for an HTTP call, the
	// broker's URL for MQTT, "exec:/path" for a command.
	Name string
	// IO is true when a call mostly waits on the network (http, mqtt):
	// such calls run in the large I/O pool, commands in the CPU pool.
	IO bool
}

// Result is what one run of an Action reports.
type Result struct {
	Outcome   Outcome
	ExitCode  int
	Status    int
	Output    string
	Truncated bool
	Err       error
	// Permanent marks a failure that a retry cannot fix (an HTTP 4xx).
	Permanent bool
	// RetryAfter, when set, is the earliest delay before a retry.
	RetryAfter time.Duration
}

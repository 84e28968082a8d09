package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/queue"
)

// destinationPolicies turns the configuration's destinations into the
// queue's policies.
func destinationPolicies(ds map[string]config.Destination) map[string]queue.Policy {
	if len(ds) == 0 {
		return nil
	}
	out := make(map[string]queue.Policy, len(ds))
	for name, d := range ds {
		out[name] = queue.Policy{Concurrency: d.Concurrency, Rate: d.Rate, Burst: d.Burst,
			Failures: d.Failures, Cooldown: d.Cooldown, MaxCooldown: d.MaxCooldown}
	}
	return out
}

// queueRef lets the admin listener, which starts first, reach the queue
// made after it.
type queueRef struct{ p atomic.Pointer[queue.Queue] }

func (r *queueRef) Destinations() []queue.DestinationStatus {
	if q := r.p.Load(); q != nil {
		return q.Destinations()
	}
	return nil
}

// Fenced counts the queue's writes refused by fencing.
func (r *queueRef) Fenced() queue.Fenced {
	if q := r.p.Load(); q != nil {
		return q.Fenced()
	}
	return queue.Fenced{}
}

func (r *queueRef) Resume(name string) error {
	if q := r.p.Load(); q != nil {
		return q.Resume(name)
	}
	return queue.ErrUnknownDestination
}

// runDestinations lists the destinations of a running postbox, or resumes
// one, through its admin API: their state lives in the serving process.
func runDestinations(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("destinations", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "postbox.yaml", "configuration `file` (for the admin address and token)")
	adminURL := fs.String("admin", "", "the admin listener's `URL`, when not the configuration's")
	resume := fs.String("resume", "", "close the circuit breaker of this destination `name` and end its pause")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "postbox destinations: unexpected argument %q\n", fs.Arg(0))
		return exitError(2)
	}
	cfg, err := loadAdminConfig(*path, getenv, stderr)
	if err != nil {
		return err
	}
	base := *adminURL
	if base == "" {
		if cfg.Admin == "off" {
			return fmt.Errorf("%s: admin is off: the destinations are shown by the admin API of a running postbox; pass --admin URL", *path)
		}
		base = "http://" + dialable(cfg.Admin)
	}
	c := &adminClient{base: strings.TrimSuffix(base, "/"), token: cfg.AdminToken, http: &http.Client{Timeout: 10 * time.Second}}
	if *resume != "" {
		body, _ := json.Marshal(map[string]string{"name": *resume})
		var out map[string]string
		if err := c.do(ctx, http.MethodPost, "/api/destinations/resume", body, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "resumed %s\n", line(*resume, false))
		return nil
	}
	var list struct {
		Destinations []queue.DestinationStatus `json:"destinations"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/destinations", nil, &list); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DESTINATION\tKIND\tSTATE\tIN FLIGHT\tLIMIT\tRATE\tOK\tFAILED\tUNTIL\tLAST ERROR")
	for _, d := range list.Destinations {
		until, rate := "", ""
		if !d.Until.IsZero() {
			until = d.Until.Local().Format(time.TimeOnly)
		}
		if d.Rate > 0 {
			rate = strconv.FormatFloat(d.Rate, 'g', 4, 64) + "/s"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\t%s\n", line(d.Name, false), d.Kind, d.State, d.InFlight, d.Limit,
			rate, d.OK, d.Failed, until, line(truncate(d.LastErr, 60), false))
	}
	return tw.Flush()
}

// dialable is the admin listen address as a client reaches it: a wildcard
// host means this machine.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// adminClient calls a running postbox's admin API.
type adminClient struct {
	base, token string
	http        *http.Client
}

func (c *adminClient) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w (is postbox serve running?)", c.base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return fmt.Errorf("admin API %s %s: %s: %s", method, path, res.Status, line(msg, false))
	}
	return json.Unmarshal(b, out)
}

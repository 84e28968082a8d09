// Command postbox is the webhook server: postbox serve, check, deliveries,
// sign, import, migrate, store copy and version. main only wires the
// process to run, which tests call.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "postbox:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError ends the process with a code after its message was printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func exitCode(err error) int {
	var ee exitError
	if errors.As(err, &ee) {
		return int(ee)
	}
	return 1
}

const usage = `postbox — a webhook server that keeps every delivery.

Usage:
  postbox serve      --config FILE   receive hooks, store them, run their actions
  postbox serve      --config FILE --print-config   print the effective config, secrets redacted
  postbox check      --config FILE   validate a configuration file
  postbox deliveries list --config FILE [--hook ID] [--state S] [--limit N] [--json]
  postbox deliveries show --config FILE [--json] ID
  postbox deliveries replay --config FILE ID... | [--hook ID] [--state dead] [--since 24h]
  postbox deliveries prune --config FILE [--dry-run] [--json]   remove what retention: lets go (--dry-run: count it)
  postbox destinations --config FILE [--json] [--resume NAME]   each destination's breaker, limits and calls (from the running server)
  postbox instances  --config FILE [--jobs] [--json]   the instances registered in the store, their heartbeats and held jobs
  postbox migrate    --config FILE   bring the configured store's schema up to date
  postbox store copy --from ADDR --to ADDR   copy every delivery between stores (sqlite:PATH, postgres://...)
  postbox store stats --config FILE [--json]   size, deliveries, oldest, bytes per hook, time to max_size
  postbox import     FILE            convert adnanh/webhook hooks (hooks.json|yaml) to postbox YAML
  postbox webhook    [-hooks FILE ...] [-ip IP] [-port N] [webhook's flags] [--data DIR] [--admin ADDR]   serve hooks files as adnanh/webhook does (also as argv[0] "webhook")
  postbox listen     --from URL --token T --forward URL [--hook ID ...] [--since 1h] [--state FILE] [--retry N] [--replay ID]   relay a public postbox's deliveries to a local target, signatures intact
  postbox sign       --provider NAME --secret S [--file BODY] [--url U] [--curl URL] [--event E] [-H "K: V"]   print a provider's signed headers
  postbox version
`

// run is the whole program; everything it touches comes in as arguments.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && filepath.Base(args[0]) == "webhook" {
		// Installed as adnanh/webhook's drop-in.
		return runWebhook(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return exitError(2)
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "check":
		return runCheck(rest, getenv, stdout, stderr)
	case "deliveries":
		return runDeliveries(ctx, rest, getenv, stdout, stderr)
	case "destinations":
		return runDestinations(ctx, rest, getenv, stdout, stderr)
	case "instances":
		return runInstances(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "store":
		if len(rest) > 0 && rest[0] == "stats" {
			return runStoreStats(ctx, rest[1:], getenv, stdout, stderr)
		}
		return runStore(ctx, rest, stdout, stderr)
	case "import":
		return runImport(rest, getenv, stdout, stderr)
	case "webhook":
		return runWebhook(ctx, rest, getenv, stdout, stderr)
	case "listen":
		return runListen(ctx, rest, getenv, stdout, stderr)
	case "sign":
		return runSign(rest, os.Stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "postbox", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "postbox: unknown command %q\n\n%s", cmd, usage)
		return exitError(2)
	}
}

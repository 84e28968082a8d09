package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/postbox/postbox/compat/webhook"
	"github.com/postbox/postbox/config"
)

const importUsage = `Usage: postbox import FILE > postbox.yaml

Converts the hook definitions of adnanh/webhook (hooks.json or hooks.yaml)
to a postbox configuration, printed on stdout. What cannot be converted is
listed on stderr, with the hook and the key, and exits 1 (the configuration
is printed all the same, with those parts marked). See
docs/migrating-from-webhook.md.
`

// runImport is `postbox import FILE`.
func runImport(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage) }
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitError(2)
	}
	path := fs.Arg(0)
	res, err := convertHooks(path)
	if err != nil {
		fmt.Fprintln(stderr, "postbox import:", err)
		return exitError(1)
	}
	out := res.YAML()
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	for _, p := range res.Problems {
		fmt.Fprintln(stderr, p.Format(path))
	}
	// A command or directory missing on this machine is no conversion
	// problem (the file may be meant for another one), but worth a word.
	if _, err := config.Parse(path+" (converted)", out, getenv); err != nil {
		fmt.Fprintln(stderr, "postbox import: note: the converted configuration does not load on this machine (lines are those printed on stdout):")
		printLoadError(err, stderr)
	}
	if n := len(res.Problems); n > 0 {
		fmt.Fprintf(stderr, "postbox import: %d %s not converted; they are marked NOT CONVERTED in the output\n", n, plural(n, "item", "items"))
		return exitError(1)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func convertHooks(path string) (*webhook.Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return webhook.Convert(path, data)
}

// hooksLoader returns the configuration loader of `serve --hooks FILE`:
// FILE converted as postbox import does, and served on webhook's address,
// or, when --config was given too, added to that configuration, whose
// settings (listen, data, limits, ...) apply. Anything that cannot be
// converted stops it: a hooks file is served as it is or not at all.
func hooksLoader(fs *flag.FlagSet, hooksPath, configPath string, getenv func(string) string) func() (*config.Config, error) {
	withConfig := false
	fs.Visit(func(f *flag.Flag) { withConfig = withConfig || f.Name == "config" })
	return func() (*config.Config, error) {
		res, err := convertHooks(hooksPath)
		if err != nil {
			return nil, err
		}
		if len(res.Problems) > 0 {
			lines := make([]string, len(res.Problems))
			for i, p := range res.Problems {
				lines[i] = p.Format(hooksPath)
			}
			return nil, fmt.Errorf("%s\n%s cannot be served as it is: convert it with `postbox import %s > postbox.yaml`, settle the lines above and serve that with --config",
				strings.Join(lines, "\n"), hooksPath, hooksPath)
		}
		if !withConfig {
			return config.Parse(hooksPath+" (converted)", res.YAML(), getenv)
		}
		base, err := os.ReadFile(configPath)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		text, err := webhook.AddHooks(base, res.Hooks)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", configPath, err)
		}
		return config.Parse(configPath, text, getenv)
	}
}

// loadWith runs load and prints its problems, one per line, as
// loadConfig does for a configuration file.
func loadWith(load func() (*config.Config, error), stderr io.Writer) (*config.Config, error) {
	cfg, err := load()
	if err != nil {
		printLoadError(err, stderr)
		return nil, exitError(1)
	}
	return cfg, nil
}

func printLoadError(err error, stderr io.Writer) {
	var problems config.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		return
	}
	fmt.Fprintln(stderr, "postbox:", err)
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/postbox/postbox/config"
)

func runCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if _, err := loadConfig(*path, getenv, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// loadConfig loads path and prints every problem, one per line, to stderr.
func loadConfig(path string, getenv func(string) string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path, getenv)
	return printProblems(cfg, err, stderr)
}

// loadStoreConfig is loadConfig for a command that only reads or manages
// the store: it reads data: and store:, not the hooks and their secrets
// (config.LoadStore).
func loadStoreConfig(path string, getenv func(string) string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.LoadStore(path, getenv)
	return printProblems(cfg, err, stderr)
}

// loadRetentionConfig is loadStoreConfig for the commands that prune or
// describe the store: it reads retention: too, the top level's and each
// hook's, but none of the hooks' secrets (config.LoadRetention).
func loadRetentionConfig(path string, getenv func(string) string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.LoadRetention(path, getenv)
	return printProblems(cfg, err, stderr)
}

// loadAdminConfig is loadConfig for a command that talks to the running
// server's admin API: it reads admin: alone (config.LoadAdmin).
func loadAdminConfig(path string, getenv func(string) string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.LoadAdmin(path, getenv)
	return printProblems(cfg, err, stderr)
}

// printProblems prints the problems of a load, one per line, to stderr.
func printProblems(cfg *config.Config, err error, stderr io.Writer) (*config.Config, error) {
	var problems config.Problems
	switch {
	case errors.As(err, &problems):
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		return nil, exitError(1)
	case err != nil:
		fmt.Fprintln(stderr, "postbox:", err)
		return nil, exitError(1)
	}
	return cfg, nil
}

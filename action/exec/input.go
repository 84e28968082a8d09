package exec

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/template"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/tmpl"
)

// This file passes request data to a command other than through its
// arguments and environment, which the kernel bounds (E2BIG past a few
// hundred KiB): on standard input (stdin:) and in private temporary files
// whose paths are passed in environment variables (files:).

// inputFuncs are the template functions stdin: and files: have besides
// the usual ones: base64decode, for a value sent base64-encoded that the
// command wants as bytes (webhook's pass-file-to-command base64decode).
var inputFuncs = template.FuncMap{
	"base64decode": func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return "", fmt.Errorf("base64decode: %w", err)
		}
		return string(b), nil
	},
}

// fileVar is one entry of files:, a template rendered into a temporary
// file whose path is the value of the environment variable name.
type fileVar struct {
	name string
	tmpl postbox.Template
}

// compileInput compiles c.Stdin and c.Files into a.
func (a *Action) compileInput(c Config) []error {
	var errs []error
	if c.Stdin != "" {
		t, err := tmpl.ParseWith("stdin", c.Stdin, inputFuncs, nil)
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: "stdin", Message: "is not a valid template: " + err.Error()})
		} else {
			a.stdin = t
		}
	}
	names := make([]string, 0, len(c.Files))
	for k := range c.Files {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !validName(k) {
			errs = append(errs, &postbox.FieldError{Field: "files." + k, Message: "is not a variable name (letters, digits and _): it names the variable that holds the file's path"})
			continue
		}
		if _, dup := c.Env[k]; dup {
			errs = append(errs, &postbox.FieldError{Field: "files." + k, Message: "is also in env:; the variable holds the file's path"})
			continue
		}
		t, err := tmpl.ParseWith("files."+k, c.Files[k], inputFuncs, nil)
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: "files." + k, Message: "is not a valid template: " + err.Error()})
			continue
		}
		a.files = append(a.files, fileVar{k, t})
	}
	return errs
}

// input is what one run passes besides argv and env: the rendered stdin
// and the temporary files, removed by cleanup.
type input struct {
	stdin io.Reader // nil: the null device
	env   []string  // NAME=path of each file
	paths []string
}

// prepare renders stdin and writes the files, in dir (the system's
// temporary directory when ""); files are readable by their owner only,
// and chowned to the account the command runs as. On error nothing is
// left behind.
func (a *Action) prepare(data *postbox.TemplateData) (*input, error) {
	in := &input{}
	if a.stdin != nil {
		s, err := a.stdin.Execute(data)
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		in.stdin = strings.NewReader(s)
	}
	for _, f := range a.files {
		path, err := a.writeFile(f, data)
		if err != nil {
			in.cleanup()
			return nil, fmt.Errorf("files.%s: %w", f.name, err)
		}
		in.paths = append(in.paths, path)
		in.env = append(in.env, f.name+"="+path)
	}
	return in, nil
}

func (a *Action) writeFile(f fileVar, data *postbox.TemplateData) (string, error) {
	s, err := f.tmpl.Execute(data)
	if err != nil {
		return "", err
	}
	// CreateTemp makes the file 0600, so that other accounts cannot read
	// the request's data.
	tmp, err := os.CreateTemp("", "postbox-"+data.Hook.ID+"-"+strings.ToLower(f.name)+"-*")
	if err != nil {
		return "", err
	}
	path := tmp.Name()
	_, werr := io.WriteString(tmp, s)
	cerr := tmp.Close()
	if err := firstErr(werr, cerr, a.runAs.chown(path)); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// cleanup removes the files, whatever the command did with them.
func (in *input) cleanup() {
	for _, p := range in.paths {
		os.Remove(p)
	}
}

// liveOutput copies a command's stdout to the writer of a streamed answer
// (postbox.OutputOf). A client that went away does not fail the command:
// after the first error the rest is dropped, and kept in the Result only.
type liveOutput struct {
	w      io.Writer
	failed bool
}

func (l *liveOutput) Write(p []byte) (int, error) {
	if !l.failed {
		if _, err := l.w.Write(p); err != nil {
			l.failed = true
		}
	}
	return len(p), nil
}

package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheck runs `postbox check` on good and bad files. Bad files print one
// line per problem, "file:line: field ...", to stderr and exit non-zero.
func TestCheck(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testdata, "check")
	examples, err := filepath.Abs(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the example config is ok", func(t *testing.T) {
		res := runPostbox(t, examples, nil, "check", "--config", "postbox.yaml")
		if res.code != 0 || res.stdout != "ok\n" || res.stderr != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0, \"ok\\n\", nothing", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("a file whose variable is set is ok", func(t *testing.T) {
		res := runPostbox(t, dir, []string{"E2E_TOKEN=t"}, "check", "--config", "valid.yaml")
		if res.code != 0 || res.stdout != "ok\n" {
			t.Errorf("exit %d, stdout %q, stderr %q; want 0 and ok", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("a file whose variable is unset names it", func(t *testing.T) {
		res := runPostbox(t, dir, nil, "check", "--config", "valid.yaml")
		want := "valid.yaml:8: hooks[0].auth.token.secret: environment variable E2E_TOKEN is not set (write ${E2E_TOKEN:-default} for a default)\n"
		if res.code == 0 || !strings.HasPrefix(res.stderr, want) {
			t.Errorf("exit %d, stderr %q; want non-zero and first %q", res.code, res.stderr, want)
		}
	})
	t.Run("a missing file is named", func(t *testing.T) {
		res := runPostbox(t, dir, nil, "check", "--config", "nope.yaml")
		want := "postbox: read config: open nope.yaml: no such file or directory\n"
		if res.code == 0 || res.stderr != want || res.stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q; want non-zero and %q", res.code, res.stdout, res.stderr, want)
		}
	})
	for _, name := range []string{"mistakes", "syntax"} {
		t.Run("every problem of "+name+".yaml is one line naming file:line", func(t *testing.T) {
			res := runPostbox(t, dir, nil, "check", "--config", name+".yaml")
			if res.code == 0 {
				t.Errorf("exit 0, want non-zero")
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
			line := regexp.MustCompile(`^` + name + `\.yaml:[0-9]+: \S`)
			for _, l := range strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n") {
				if !line.MatchString(l) {
					t.Errorf("line %q does not start with %s.yaml:LINE:", l, name)
				}
			}
			golden(t, filepath.Join("check", name+".golden"), res.stderr)
		})
	}
}

// TestServeRefusesInvalidConfig checks that serve prints what check prints
// and never starts.
func TestServeRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testdata, "check")
	for _, name := range []string{"mistakes.yaml", "syntax.yaml", "valid.yaml"} {
		t.Run(name, func(t *testing.T) {
			check := runPostbox(t, dir, nil, "check", "--config", name)
			serve := runPostbox(t, dir, nil, "serve", "--config", name, "--log-format", "json")
			if serve.code == 0 {
				t.Errorf("serve exited 0, want non-zero")
			}
			if serve.stderr != check.stderr {
				t.Errorf("serve printed\n%s\ncheck printed\n%s", serve.stderr, check.stderr)
			}
			if strings.Contains(serve.stderr, `"ready"`) {
				t.Errorf("serve got ready on an invalid config")
			}
		})
	}
}

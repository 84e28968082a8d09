package exec

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"gopkg.in/yaml.v3"
)

// envOf runs /usr/bin/env with c's settings and returns what it printed,
// one NAME=value a line.
func envOf(t *testing.T, c Config) []string {
	t.Helper()
	c.Command = "/usr/bin/env"
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	data := &postbox.TemplateData{Payload: map[string]any{}, Delivery: postbox.DeliveryInfo{ID: "d1"}, Hook: postbox.HookInfo{ID: "h"}}
	res := a.Run(context.Background(), data)
	if res.Outcome != postbox.OutcomeOK {
		t.Fatalf("env: %v %v: %s", res.Outcome, res.Err, res.Output)
	}
	return strings.Split(strings.TrimSpace(res.Output), "\n")
}

// TestCommandEnvironment runs a real command and reads the environment it
// got: postbox's own secrets stay out of it unless inherit_env asks.
func TestCommandEnvironment(t *testing.T) {
	t.Setenv("POSTBOX_TEST_SECRET", "do-not-leak")
	t.Setenv("POSTBOX_TEST_OTHER", "other-value")
	t.Setenv("PATH", "/usr/bin:/bin")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "Europe/Berlin")
	t.Setenv("HOME", "/home/postbox-test")

	t.Run("a secret of the server's environment does not reach the command", func(t *testing.T) {
		got := envOf(t, Config{})
		for _, kv := range got {
			if strings.Contains(kv, "do-not-leak") || strings.HasPrefix(kv, "POSTBOX_TEST_") {
				t.Errorf("the command saw %s", kv)
			}
		}
	})
	t.Run("the command gets PATH, LANG, TZ, HOME, its env: and the POSTBOX_ ids, and nothing else", func(t *testing.T) {
		got := envOf(t, Config{Env: map[string]string{"COLOR": "blue"}})
		slices.Sort(got)
		want := []string{"COLOR=blue", "HOME=/home/postbox-test", "LANG=C.UTF-8", "PATH=/usr/bin:/bin", "POSTBOX_DELIVERY=d1", "POSTBOX_HOOK=h", "TZ=Europe/Berlin"}
		if !slices.Equal(got, want) {
			t.Errorf("environment:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
	t.Run("inherit_env names a variable to pass through", func(t *testing.T) {
		got := envOf(t, Config{InheritEnv: InheritEnv{Names: []string{"POSTBOX_TEST_SECRET", "NOT_SET_ANYWHERE"}}})
		if !slices.Contains(got, "POSTBOX_TEST_SECRET=do-not-leak") {
			t.Errorf("inherit_env: [POSTBOX_TEST_SECRET] did not pass it:\n%s", strings.Join(got, "\n"))
		}
		for _, kv := range got {
			if strings.HasPrefix(kv, "POSTBOX_TEST_OTHER=") || strings.HasPrefix(kv, "NOT_SET_ANYWHERE=") {
				t.Errorf("the command saw %s, which inherit_env does not name", kv)
			}
		}
	})
	t.Run("inherit_env: true passes the whole environment", func(t *testing.T) {
		got := envOf(t, Config{InheritEnv: InheritEnv{All: true}})
		for _, want := range []string{"POSTBOX_TEST_SECRET=do-not-leak", "POSTBOX_TEST_OTHER=other-value"} {
			if !slices.Contains(got, want) {
				t.Errorf("inherit_env: true did not pass %s", want)
			}
		}
	})
	t.Run("env: wins over an inherited variable", func(t *testing.T) {
		got := envOf(t, Config{Env: map[string]string{"LANG": "de_DE.UTF-8"}})
		if slices.Contains(got, "LANG=C.UTF-8") || !slices.Contains(got, "LANG=de_DE.UTF-8") {
			t.Errorf("environment: %s", strings.Join(got, " "))
		}
	})
	t.Run("a command gets a PATH when the server has none", func(t *testing.T) {
		os.Unsetenv("PATH") // t.Setenv above restores it
		got := envOf(t, Config{})
		if !slices.Contains(got, "PATH="+defaultPath) {
			t.Errorf("environment: %s", strings.Join(got, " "))
		}
	})
}

// TestInheritEnvSettings reads inherit_env: as written in a file.
func TestInheritEnvSettings(t *testing.T) {
	tests := []struct {
		name, src string
		want      InheritEnv
		err       string
	}{
		{"a list of names", "inherit_env: [AWS_PROFILE, KUBECONFIG]", InheritEnv{Names: []string{"AWS_PROFILE", "KUBECONFIG"}}, ""},
		{"true", "inherit_env: true", InheritEnv{All: true}, ""},
		{"false", "inherit_env: false", InheritEnv{}, ""},
		{"left out", "command: x", InheritEnv{}, ""},
		{"a word", "inherit_env: all", InheritEnv{}, "neither a list of variable names nor true"},
		{"a mapping", "inherit_env: {A: b}", InheritEnv{}, "use a list of variable names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := yaml.Unmarshal([]byte(tt.src), &c)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.InheritEnv.All != tt.want.All || !slices.Equal(c.InheritEnv.Names, tt.want.Names) {
				t.Errorf("got %+v, want %+v", c.InheritEnv, tt.want)
			}
		})
	}
	t.Run("a name no variable can have is refused", func(t *testing.T) {
		_, err := New(Config{Command: "/usr/bin/env", InheritEnv: InheritEnv{Names: []string{"OK", "NOT-OK"}}})
		if err == nil || !strings.Contains(err.Error(), `inherit_env[1]: "NOT-OK" is not a variable name`) {
			t.Errorf("err = %v", err)
		}
	})
}

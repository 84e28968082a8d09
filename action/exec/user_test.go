//go:build unix

package exec

import (
	"context"
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/testenv"
)

func runData() *postbox.TemplateData {
	return &postbox.TemplateData{Payload: map[string]any{}, Delivery: postbox.DeliveryInfo{ID: "d1"}, Hook: postbox.HookInfo{ID: "h"}}
}

// TestRunAsUser runs `id` as nobody and checks the ids the command saw.
// Only root may switch users, so it skips elsewhere (CI runs as root).
func TestRunAsUser(t *testing.T) {
	testenv.RequireRoot(t, "running a command as another user")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		testenv.Skip(t, "no user nobody here: %v", err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"the command runs with the user's uid", []string{"-u"}, nobody.Uid},
		{"the command runs with the user's primary group", []string{"-g"}, nobody.Gid},
		{"root's supplementary groups are dropped", []string{"-G"}, nobody.Gid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Command: "id", Args: tt.args, User: "nobody"})
			if err != nil {
				t.Fatal(err)
			}
			res := a.Run(context.Background(), runData())
			if res.Outcome != postbox.OutcomeOK {
				t.Fatalf("id %s as nobody: %v %v: %s", tt.args, res.Outcome, res.Err, res.Output)
			}
			if got := strings.TrimSpace(res.Output); got != tt.want {
				t.Errorf("id %s printed %q, want %q", tt.args, got, tt.want)
			}
		})
	}
	t.Run("HOME is the user's unless env sets it", func(t *testing.T) {
		a, err := New(Config{Command: "sh", Args: []string{"-c", "echo $HOME $USER $X"}, User: "nobody", Env: map[string]string{"X": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		res := a.Run(context.Background(), runData())
		if want := nobody.HomeDir + " nobody x"; strings.TrimSpace(res.Output) != want {
			t.Errorf("got %q, want %q", res.Output, want)
		}
		a, err = New(Config{Command: "sh", Args: []string{"-c", "echo $HOME"}, User: "nobody", Env: map[string]string{"HOME": "/tmp"}})
		if err != nil {
			t.Fatal(err)
		}
		if res := a.Run(context.Background(), runData()); strings.TrimSpace(res.Output) != "/tmp" {
			t.Errorf("with env HOME=/tmp the command saw HOME=%q", res.Output)
		}
	})
	t.Run("with user: the server's secrets stay out and HOME is the user's", func(t *testing.T) {
		t.Setenv("POSTBOX_TEST_SECRET", "do-not-leak")
		t.Setenv("HOME", "/root-home-not-for-nobody")
		a, err := New(Config{Command: "/usr/bin/env", User: "nobody"})
		if err != nil {
			t.Fatal(err)
		}
		res := a.Run(context.Background(), runData())
		if strings.Contains(res.Output, "do-not-leak") || strings.Contains(res.Output, "root-home") {
			t.Errorf("the command as nobody saw the server's environment:\n%s", res.Output)
		}
		if !strings.Contains(res.Output, "HOME="+nobody.HomeDir+"\n") {
			t.Errorf("HOME is not nobody's (%s):\n%s", nobody.HomeDir, res.Output)
		}
	})
	t.Run("a group alone keeps the uid", func(t *testing.T) {
		a, err := New(Config{Command: "sh", Args: []string{"-c", "id -u; id -g"}, Group: nobody.Gid})
		if err != nil {
			t.Fatal(err)
		}
		res := a.Run(context.Background(), runData())
		if want := "0 " + nobody.Gid; strings.Join(strings.Fields(res.Output), " ") != want {
			t.Errorf("id -u; id -g printed %q, want %q", res.Output, want)
		}
	})
}

// TestRunAsRefused checks the problems `postbox check` reports for user:
// and group:.
func TestRunAsRefused(t *testing.T) {
	tests := []struct {
		name   string
		euid   int
		config Config
		want   string
	}{
		{"a user needs postbox to run as root", 1000, Config{Command: "id", User: "nobody"},
			"user: needs postbox to run as root to switch to another account, and postbox runs as uid 1000"},
		{"a group needs postbox to run as root", 1000, Config{Command: "id", Group: "nogroup"},
			"group: needs postbox to run as root"},
		{"an unknown user is named", 0, Config{Command: "id", User: "no-such-user-here"},
			`user: "no-such-user-here" is not a user on this machine`},
		{"an unknown group is named", 0, Config{Command: "id", User: "root", Group: "no-such-group-here"},
			`group: "no-such-group-here" is not a group on this machine`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.euid == 0 && os.Geteuid() != 0 {
				t.Skip("the lookups run only once the root check passes")
			}
			defer func(f func() int) { geteuid = f }(geteuid)
			geteuid = func() int { return tt.euid }
			_, err := New(tt.config)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%+v) = %v, want an error with %q", tt.config, err, tt.want)
			}
		})
	}
}

package exec

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/postbox/postbox"
)

// bigBody is 10 MiB: far more than the kernel lets through argv or the
// environment (E2BIG), which is why stdin: and files: exist.
func bigBody() string {
	return strings.Repeat("0123456789abcdef", 10<<20/16)
}

func runWith(t *testing.T, c Config, body string) postbox.Result {
	t.Helper()
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	data := &postbox.TemplateData{Body: body, Payload: map[string]any{"data": base64.StdEncoding.EncodeToString([]byte("bytes\x00here"))},
		Delivery: postbox.DeliveryInfo{ID: "d1"}, Hook: postbox.HookInfo{ID: "h"}}
	return a.Run(context.Background(), data)
}

func sum(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

func TestStdin(t *testing.T) {
	body := bigBody()
	t.Run("a 10 MiB body reaches the command on stdin whole", func(t *testing.T) {
		res := runWith(t, Config{Command: "sh", Args: []string{"-c", "sha256sum | cut -d' ' -f1"}, Stdin: "{{ .Body }}"}, body)
		if res.Outcome != postbox.OutcomeOK || strings.TrimSpace(res.Output) != sum(body) {
			t.Fatalf("outcome %v %v, output %q, want the body's sha256 %s", res.Outcome, res.Err, res.Output, sum(body))
		}
	})
	t.Run("without stdin: the command reads nothing", func(t *testing.T) {
		res := runWith(t, Config{Command: "wc", Args: []string{"-c"}}, body)
		if strings.TrimSpace(res.Output) != "0" {
			t.Fatalf("wc -c printed %q, want 0", res.Output)
		}
	})
	t.Run("a command that does not read its stdin still succeeds", func(t *testing.T) {
		res := runWith(t, Config{Command: "true", Stdin: "{{ .Body }}"}, body)
		if res.Outcome != postbox.OutcomeOK {
			t.Fatalf("outcome %v %v", res.Outcome, res.Err)
		}
	})
	t.Run("an invalid stdin template is a field error", func(t *testing.T) {
		_, err := New(Config{Command: "true", Stdin: "{{ .Body"})
		if err == nil || !strings.Contains(err.Error(), "stdin is not a valid template") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFiles(t *testing.T) {
	body := bigBody()
	t.Run("a 10 MiB body is written to a private file named in the env var, removed after", func(t *testing.T) {
		script := `stat -c %a "$BODY_FILE"; sha256sum < "$BODY_FILE" | cut -d' ' -f1; echo "$BODY_FILE"`
		res := runWith(t, Config{Command: "sh", Args: []string{"-c", script}, Files: map[string]string{"BODY_FILE": "{{ .Body }}"}}, body)
		if res.Outcome != postbox.OutcomeOK {
			t.Fatalf("outcome %v %v: %s", res.Outcome, res.Err, res.Output)
		}
		lines := strings.Split(strings.TrimSpace(res.Output), "\n")
		if len(lines) != 3 || lines[0] != "600" || lines[1] != sum(body) {
			t.Fatalf("output %q, want mode 600 and the body's sha256", res.Output)
		}
		if _, err := os.Stat(lines[2]); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the run (stat: %v)", lines[2], err)
		}
	})
	t.Run("base64decode writes the decoded bytes", func(t *testing.T) {
		res := runWith(t, Config{Command: "sh", Args: []string{"-c", `od -An -c "$DATA"`},
			Files: map[string]string{"DATA": "{{ base64decode .Payload.data }}"}}, "")
		if !strings.Contains(res.Output, `b   y   t   e   s  \0   h   e   r   e`) {
			t.Fatalf("od printed %q", res.Output)
		}
	})
	t.Run("the file is removed when the command fails", func(t *testing.T) {
		res := runWith(t, Config{Command: "sh", Args: []string{"-c", `echo "$F"; exit 3`}, Files: map[string]string{"F": "x"}}, "")
		path := strings.TrimSpace(res.Output)
		if res.ExitCode != 3 || path == "" {
			t.Fatalf("exit %d, output %q", res.ExitCode, res.Output)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s is still there (stat: %v)", path, err)
		}
	})
	for _, tc := range []struct{ name, key, want string }{
		{"a file name that is no variable name is refused", "NOT-OK", `files.NOT-OK is not a variable name`},
		{"a file variable also in env: is refused", "COLOR", `files.COLOR is also in env:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Command: "true", Env: map[string]string{"COLOR": "x"}, Files: map[string]string{tc.key: "x"}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLookupAtRun(t *testing.T) {
	missing := "/nonexistent/postbox-test-command"
	if _, err := New(Config{Command: missing}); err == nil {
		t.Fatal("a missing command loads without lookup_at_run")
	}
	res := runWith(t, Config{Command: missing, LookupAtRun: true}, "")
	if res.Outcome != postbox.OutcomeError || res.Err == nil || !bytes.Contains([]byte(res.Err.Error()), []byte("no such file")) {
		t.Fatalf("outcome %v, err %v: want an error naming the missing file", res.Outcome, res.Err)
	}
}

package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const actionsConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
hooks:
  - id: argv
    path: /argv/{name}
    actions:
      - exec:
          command: /bin/sh
          args: ["@TESTDATA@/argv.sh", "{{ .Payload.x }}", "{{ .Path.name }}", "{{ .Query.Get \"q\" }}", "{{ .Payload.file }}"]
          env: {ARGV_DIR: "@DIR@/argv", STATE: "{{ .Payload.x }}"}
  - id: exit
    actions:
      - exec: {command: /bin/sh, args: ["@TESTDATA@/exit.sh", "{{ .Payload.word }}", "{{ .Payload.code }}"]}
  - id: background
    actions:
      - exec: {command: /bin/sh, args: ["@TESTDATA@/background.sh"]}
  - id: slow
    actions:
      - exec: {command: /bin/sleep, args: ["30"], timeout: 200ms}
`

// TestExecAttempts checks that the exec action's attempt is recorded with
// its exit code and output, and the delivery's state follows.
func TestExecAttempts(t *testing.T) {
	t.Parallel()
	s := startServer(t, actionsConfig)
	tests := []struct {
		name    string
		path    string
		body    string
		state   string
		outcome string
		code    int
		output  []string // lines the recorded output must hold
	}{
		{"a command that exits 0 is ok and the delivery done", "/hooks/exit", `{"word":"fine","code":0}`,
			"done", "ok", 0, []string{"out: fine", "err: fine"}},
		{"a command that exits 3 is recorded with code 3 and its output, and the delivery dead (its one attempt used)", "/hooks/exit", `{"word":"broken","code":3}`,
			"dead", "failed", 3, []string{"out: broken", "err: broken"}},
		{"a command that exits 0 while a process it started keeps its output open is ok", "/hooks/background", `{}`,
			"done", "ok", 0, []string{"started "}},
		{"a command past its timeout is killed and recorded as a timeout, the delivery dead", "/hooks/slow", `{}`,
			"dead", "timeout", -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := s.do(t, request{method: "POST", path: tt.path, header: jsonType, body: tt.body})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			id := resp.Header.Get("Postbox-Delivery")
			s.waitAttempt(id)
			d := s.delivery(id)
			if string(d.State) != tt.state {
				t.Errorf("state %s, want %s", d.State, tt.state)
			}
			if len(d.Attempts) != 1 {
				t.Fatalf("%d attempts, want 1: %+v", len(d.Attempts), d.Attempts)
			}
			a := d.Attempts[0]
			if a.Kind != "exec" || string(a.Outcome) != tt.outcome || a.ExitCode != tt.code {
				t.Errorf("attempt kind %s outcome %s exit code %d, want exec %s %d", a.Kind, a.Outcome, a.ExitCode, tt.outcome, tt.code)
			}
			for _, line := range tt.output {
				if !strings.Contains(a.Output, line) {
					t.Errorf("output %q does not hold %q", a.Output, line)
				}
			}
			// The same, as a person reads it.
			res := s.cli("deliveries", "show", "--config", "postbox.yaml", id)
			if want := "exit code " + itoa(tt.code); !strings.Contains(res.stdout, want) {
				t.Errorf("show does not print %q:\n%s", want, res.stdout)
			}
			for _, line := range tt.output {
				if !strings.Contains(res.stdout, "\n      "+line) {
					t.Errorf("show does not print the output line %q:\n%s", line, res.stdout)
				}
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestPayloadStaysData sends shell syntax in every place a template takes
// from the request and checks that the command received it as one
// argument, byte for byte, and that nothing ran.
func TestPayloadStaysData(t *testing.T) {
	t.Parallel()
	s := startServer(t, actionsConfig)
	if err := os.Mkdir(filepath.Join(s.dir, "argv"), 0o755); err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(s.dir, "pwned")
	tests := []struct {
		name string
		x    string // the JSON payload's x: argument 1 and $STATE
		path string // the {name} wildcard, unescaped: argument 2
		q    string // the query parameter q: argument 3
		file string // the JSON payload's file: argument 4
	}{
		{name: "a semicolon and a command", x: "x; touch " + pwned},
		{name: "command substitution", x: "$(touch " + pwned + ")"},
		{name: "backticks", x: "`touch " + pwned + "`"},
		{name: "a pipe", x: "x | touch " + pwned},
		{name: "an and-list", x: "x && touch " + pwned},
		{name: "a newline and a command", x: "x\ntouch " + pwned + "\n"},
		{name: "closing a single quote", x: "'; touch " + pwned + "; echo '"},
		{name: "closing a double quote", x: `"; touch ` + pwned + `; echo "`},
		{name: "IFS tricks", x: "${IFS}touch${IFS}" + pwned},
		{name: "a redirection", x: "> " + pwned},
		{name: "an option-looking value", x: "--help"},
		{name: "spaces and tabs in one value", x: "a b\t c  "},
		{name: "template syntax in the payload", x: "{{ .Body }}{{ printf \"%s\" .Header }}"},
		{name: "an empty value", x: ""},
		{name: "command substitution in the path wildcard", x: "p", path: "$(touch " + pwned + ")"},
		{name: "a semicolon in the query", x: "q", q: "x; touch " + pwned},
		{name: "path traversal in a payload value", x: "t", file: "../../../../etc/passwd"},
		{name: "path traversal in the path wildcard", x: "t", path: "../../etc/shadow"},
		{name: "path traversal in the query", x: "t", q: "/../../root/.ssh/id_rsa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.path
			if name == "" {
				name = "n"
			}
			body, _ := json.Marshal(map[string]string{"x": tt.x, "file": tt.file})
			target := "/argv/" + url.PathEscape(name)
			if tt.q != "" {
				target += "?q=" + url.QueryEscape(tt.q)
			}
			resp, _ := s.do(t, request{method: "POST", path: target, header: jsonType, body: string(body)})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			id := resp.Header.Get("Postbox-Delivery")
			if a := s.waitAttempt(id); a["outcome"] != "ok" {
				t.Fatalf("attempt %v, want outcome ok", a)
			}
			raw, err := os.ReadFile(filepath.Join(s.dir, "argv", id+".args"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
			want := []string{tt.x, name, tt.q, tt.file}
			if !slices.Equal(got, want) {
				t.Errorf("the command received\n  %q\nwant\n  %q", got, want)
			}
			env, err := os.ReadFile(filepath.Join(s.dir, "argv", id+".env"))
			if err != nil {
				t.Fatal(err)
			}
			if string(env) != tt.x {
				t.Errorf("$STATE = %q, want %q", env, tt.x)
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatalf("%s exists: payload data ran as a command", pwned)
			}
		})
	}
}

package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postbox/postbox/config"
)

// hooksOK is a valid hooks: section for sources that test something else.
const hooksOK = "hooks:\n  - id: a\n"

// TestUnknownKeysAreRefusedEverywhere puts a misspelt key into every
// mapping of the file, those with an UnmarshalYAML of their own and those
// decoded from a yaml.Node by an authentication scheme or an action kind
// included: a misspelt key is never silently dropped (admin: {tokn: ...}
// served the console without a token).
func TestUnknownKeysAreRefusedEverywhere(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"admin, a mapping with its own UnmarshalYAML",
			"admin: {listen: 127.0.0.1:8091, tokn: s3cret-s3cret-s3cret}\n" + hooksOK,
			`p.yaml:1: admin.tokn: unknown key (did you mean "token"?)`},
		{"admin written as a block",
			"admin:\n  listen: 127.0.0.1:8091\n  tokne: s3cret-s3cret-s3cret\n" + hooksOK,
			`p.yaml:3: admin.tokne: unknown key (did you mean "token"?)`},
		{"admin with a key far from any known one",
			"admin: {listen: 127.0.0.1:8091, password: s3cret-s3cret-s3cret}\n" + hooksOK,
			`p.yaml:1: admin.password: unknown key (known keys: hosts, listen, token, tokens)`},
		{"limits",
			"limits: {max_bdy: 1MiB}\n" + hooksOK,
			`p.yaml:1: limits.max_bdy: unknown key (did you mean "max_body"?)`},
		{"tls",
			"tls: {cert: a.pem, kye: b.pem}\n" + hooksOK,
			`p.yaml:1: tls.kye: unknown key (did you mean "key"?)`},
		{"tls.acme",
			"tls: {acme: {domains: [hooks.example.org], emial: a@example.org}}\n" + hooksOK,
			`p.yaml:1: tls.acme.emial: unknown key (did you mean "email"?)`},
		{"a hook's retry",
			"hooks:\n  - id: a\n    retry: {atempts: 3}\n",
			`p.yaml:3: hooks[0].retry.atempts: unknown key (did you mean "attempts"?)`},
		{"a hook's dedup",
			"hooks:\n  - id: a\n    dedup: {kye: x}\n",
			`p.yaml:3: hooks[0].dedup.kye: unknown key (did you mean "key"?)`},
		{"a hook's response",
			"hooks:\n  - id: a\n    response: {stauts: 200}\n",
			`p.yaml:3: hooks[0].response.stauts: unknown key (did you mean "status"?)`},
		{"an authentication scheme's settings (yaml.Node)",
			"hooks:\n  - id: a\n    auth:\n      hmac: {header: X-Sig, secret: s, tolerence: 1m}\n",
			`p.yaml:4: hooks[0] "a": auth.hmac.tolerence: unknown key (did you mean "tolerance"?)`},
		{"a provider preset's settings",
			"hooks:\n  - id: a\n    auth:\n      github: {secert: s}\n",
			`p.yaml:4: hooks[0] "a": auth.github.secert: unknown key (did you mean "secret"?)`},
		{"basic authentication",
			"hooks:\n  - id: a\n    auth:\n      basic: {username: u, pasword: p}\n",
			`p.yaml:4: hooks[0] "a": auth.basic.pasword: unknown key (did you mean "password"?)`},
		{"an ip allowlist",
			"hooks:\n  - id: a\n    auth:\n      ip: {alow: [10.0.0.0/8]}\n",
			`p.yaml:4: hooks[0] "a": auth.ip.alow: unknown key (did you mean "allow"?)`},
		{"an exec action (yaml.Node)",
			"hooks:\n  - id: a\n    actions:\n      - exec: {command: /bin/true, timout: 5s}\n",
			`p.yaml:4: hooks[0] "a": actions[0].exec.timout: unknown key (did you mean "timeout"?)`},
		{"an exec action's inherit_env",
			"hooks:\n  - id: a\n    actions:\n      - exec: {command: /bin/true, inherit_evn: [HOME]}\n",
			`p.yaml:4: hooks[0] "a": actions[0].exec.inherit_evn: unknown key (did you mean "inherit_env"?)`},
		{"an exec action's inherit_env with a name no variable has",
			"hooks:\n  - id: a\n    actions:\n      - exec:\n          command: /bin/true\n          inherit_env: [OK, NOT-OK]\n",
			`p.yaml:6: hooks[0] "a": actions[0].exec.inherit_env[1]: "NOT-OK" is not a variable name (letters, digits and _)`},
		{"an http action",
			"hooks:\n  - id: a\n    actions:\n      - http: {url: 'https://example.org/', tiemout: 5s}\n",
			`p.yaml:4: hooks[0] "a": actions[0].http.tiemout: unknown key (did you mean "timeout"?)`},
		{"an mqtt action",
			"hooks:\n  - id: a\n    actions:\n      - mqtt: {broker: 'tcp://127.0.0.1:1883', topic: t, qso: 1}\n",
			`p.yaml:4: hooks[0] "a": actions[0].mqtt.qso: unknown key (did you mean "qos"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.src)
			if !slices.Contains(got, tt.want) {
				t.Errorf("problems of\n%s\ngot:\n  %s\nwant among them:\n  %s", tt.src, strings.Join(got, "\n  "), tt.want)
			}
		})
	}
}

// TestAdminTokenLength refuses admin tokens that are guessed in no time,
// with the line and the length but never the token.
func TestAdminTokenLength(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want []string // nil: accepted
	}{
		{"a one-character token is refused",
			"admin: {listen: 127.0.0.1:8091, token: \"a\"}\n" + hooksOK,
			[]string{`p.yaml:1: admin.token is too short (1 of at least 16 characters): use a long random token, such as one from openssl rand -hex 32`}},
		{"a token of 15 characters is refused",
			"admin:\n  listen: 0.0.0.0:8091\n  token: 123456789012345\n" + hooksOK,
			[]string{`p.yaml:3: admin.token is too short (15 of at least 16 characters): use a long random token, such as one from openssl rand -hex 32`}},
		{"a short token from a file is refused",
			"admin: {listen: 127.0.0.1:8091, token_file: " + short + "}\n" + hooksOK,
			[]string{`p.yaml:1: admin.token is too short (3 of at least 16 characters): use a long random token, such as one from openssl rand -hex 32`}},
		{"an unset variable is one problem, not two",
			"admin: {listen: 127.0.0.1:8091, token: \"${NOPE}\"}\n" + hooksOK,
			[]string{`p.yaml:1: admin.token: environment variable NOPE is not set (write ${NOPE:-default} for a default)`}},
		{"a token of 16 characters is accepted",
			"admin: {listen: 0.0.0.0:8091, token: 1234567890123456}\n" + hooksOK, nil},
		{"no token on loopback is accepted",
			"admin: {listen: 127.0.0.1:8091}\n" + hooksOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				parse(t, tt.src)
				return
			}
			got := problems(t, tt.src)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\ngot:\n  %s\nwant:\n  %s", tt.src, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if strings.Contains(strings.Join(got, "\n"), "abc") {
				t.Errorf("a problem shows the token: %s", got)
			}
		})
	}
}

// TestHMACMustSignItsTimestampAndID refuses an hmac whose timestamp_header
// or id_header is checked but not signed: a captured signature would
// replay with a fresh timestamp and a fresh id.
func TestHMACMustSignItsTimestampAndID(t *testing.T) {
	tests := []struct {
		name, auth string
		want       string // "": accepted
	}{
		{"a timestamp left out of signed is refused",
			"hmac:\n        header: X-Sig\n        secret: s\n        timestamp_header: X-Ts\n        signed: \"{{.Body}}\"\n",
			`p.yaml:8: hooks[0] "a": auth.hmac.signed: leaves out {{.Timestamp}}, so the timestamp_header X-Ts is not signed and a captured signature replays with a fresh timestamp: sign it, e.g. signed: "{{.Timestamp}}.{{.Body}}"`},
		{"an id_header with the default signed is refused at id_header",
			"hmac:\n        header: X-Sig\n        secret: s\n        timestamp_header: X-Ts\n        id_header: X-Id\n",
			`p.yaml:8: hooks[0] "a": auth.hmac.id_header: X-Id is not signed (signed has no {{.ID}}), so a captured signature replays under a fresh id that dedup does not know: sign it, e.g. signed: "{{.ID}}.{{.Timestamp}}.{{.Body}}"`},
		{"an id left out of signed is refused at signed",
			"hmac:\n        header: X-Sig\n        secret: s\n        id_header: X-Id\n        signed: \"{{.Body}}\"\n",
			`p.yaml:8: hooks[0] "a": auth.hmac.signed: X-Id is not signed (signed has no {{.ID}}), so a captured signature replays under a fresh id that dedup does not know: sign it, e.g. signed: "{{.ID}}.{{.Body}}"`},
		{"both signed is accepted",
			"hmac:\n        header: X-Sig\n        secret: s\n        timestamp_header: X-Ts\n        id_header: X-Id\n        signed: \"{{.ID}}.{{.Timestamp}}.{{.Body}}\"\n", ""},
		{"a timestamp with the default signed is accepted",
			"hmac: {header: X-Sig, secret: s, timestamp_header: X-Ts}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "hooks:\n  - id: a\n    auth:\n      " + tt.auth
			if tt.want == "" {
				parse(t, src)
				return
			}
			got := problems(t, src)
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("problems of\n%s\ngot:\n  %s\nwant:\n  %s", src, strings.Join(got, "\n  "), tt.want)
			}
		})
	}
}

var _ = config.MinAdminToken

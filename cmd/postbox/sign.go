package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/signature"
	"gopkg.in/yaml.v3"
)

// paramFlags collects repeated --param key=value flags in order.
type paramFlags [][2]string

func (p *paramFlags) String() string { return "" }

func (p *paramFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want key=value, e.g. header=X-Signature")
	}
	*p = append(*p, [2]string{k, v})
	return nil
}

// signOptions are runSign's flags.
type signOptions struct {
	provider, secret, file, pubURL, curl, id, event string
	unix                                            int64
	headers                                         headerFlags
	params                                          paramFlags
}

// runSign prints the headers a provider would send with a body, so that a
// hook can be tried with curl: `postbox sign --provider github --secret S
// --file body.json`. With --curl URL it prints a curl command instead.
func runSign(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseSignFlags(args, stderr)
	if err != nil {
		return err
	}
	signer, err := o.signer()
	if err != nil {
		return err
	}
	var body []byte
	if o.file != "" {
		body, err = os.ReadFile(o.file)
	} else {
		body, err = io.ReadAll(stdin)
	}
	if err != nil {
		return fmt.Errorf("sign: read the body: %w", err)
	}
	m, err := o.sign(signer, body)
	if err != nil {
		return err
	}
	changed := !bytes.Equal(m.Body, body)
	if o.curl != "" {
		o.printCurl(stdout, m, changed)
		return nil
	}
	for _, k := range sortedKeys(m.Header) {
		for _, val := range m.Header[k] {
			fmt.Fprintf(stdout, "%s: %s\n", k, val)
		}
	}
	if len(m.Query) > 0 {
		fmt.Fprintf(stderr, "postbox sign: %s also adds ?%s to the URL\n", o.provider, m.Query.Encode())
	}
	if changed {
		// The signature went into the body (Mailgun) or the body gained a
		// field the scheme needs (Linear): send this body, not the input.
		fmt.Fprintf(stdout, "\n%s\n", m.Body)
	}
	return nil
}

// parseSignFlags reads runSign's command line.
func parseSignFlags(args []string, stderr io.Writer) (*signOptions, error) {
	o := &signOptions{}
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.provider, "provider", "", "the scheme to sign for, as named under auth: (github, stripe, hmac, ...)")
	fs.StringVar(&o.secret, "secret", "", "the shared `secret`, as in the hook's configuration")
	fs.StringVar(&o.file, "file", "", "read the body from `file` (default: standard input)")
	fs.StringVar(&o.pubURL, "url", "", "the public `URL` the provider signs (twilio, square)")
	fs.StringVar(&o.curl, "curl", "", "print a curl command that posts the signed body to `URL`")
	fs.StringVar(&o.id, "id", "", "the delivery `id` to send (default: a random UUID)")
	fs.Int64Var(&o.unix, "time", 0, "sign at this unix `time` (default: now)")
	fs.StringVar(&o.event, "event", "", "the event type to send, for providers that name it in a header (github: X-GitHub-Event, default push; twitch: Twitch-Eventsub-Message-Type, default notification)")
	fs.Var(&o.headers, "H", "another header to send, as `'Name: value'`, repeatable (it is not signed)")
	fs.Var(&o.params, "param", "another scheme parameter as `key=value`, repeatable (e.g. header=X-Signature for hmac)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: postbox sign --provider NAME --secret S [--file body.json] [--url U] [--curl URL] [--event E] [-H 'Name: value']... [--param k=v]...\n\nProviders that sign with a shared secret: %s\n\n",
			strings.Join(signers(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, exitError(2)
	}
	if o.provider == "" || fs.NArg() > 0 {
		fs.Usage()
		return nil, exitError(2)
	}
	return o, nil
}

// signer builds the provider's verifier from the flags, as a signer.
func (o *signOptions) signer() (signature.Signer, error) {
	noSecret := fmt.Errorf("sign: %s has no shared secret to sign with (it checks a public key, a password or an address); these do: %s", o.provider, strings.Join(signers(), ", "))
	scheme, ok := signature.Lookup(o.provider)
	if !ok {
		return nil, fmt.Errorf("sign: no provider %q; these sign with a shared secret: %s", o.provider, strings.Join(signers(), ", "))
	}
	if !slices.Contains(signers(), o.provider) {
		return nil, noSecret
	}
	var p [][2]string
	if o.secret != "" {
		p = append(p, [2]string{"secret", o.secret})
	}
	if o.pubURL != "" {
		p = append(p, [2]string{"url", o.pubURL})
	}
	v, err := scheme.New(decodeParams(append(p, o.params...)))
	if err != nil {
		return nil, fmt.Errorf("sign: --provider %s: %s", o.provider, flagError(err))
	}
	signer, ok := v.(signature.Signer)
	if !ok {
		return nil, noSecret
	}
	return signer, nil
}

// sign signs body as the provider would send it, with the flags' event,
// id, time and extra headers.
func (o *signOptions) sign(signer signature.Signer, body []byte) (*signature.Message, error) {
	if name, _ := eventHeader(signer); o.event != "" && name == "" {
		return nil, fmt.Errorf("sign: --event: %s names no event type in a header; send one with -H 'Name: value'", o.provider)
	}
	m := &signature.Message{Body: body, ID: o.id, Header: http.Header{}, Event: o.event}
	if o.unix != 0 {
		m.Now = time.Unix(o.unix, 0)
	}
	if err := signer.Sign(m); err != nil {
		return nil, fmt.Errorf("sign: --provider %s: %s", o.provider, flagError(err))
	}
	if m.Header.Get("Content-Type") == "" && json.Valid(m.Body) {
		m.Header.Set("Content-Type", "application/json")
	}
	for _, h := range o.headers {
		m.Header.Set(h[0], h[1])
	}
	return m, nil
}

// printCurl prints a curl command that posts m to --curl's URL; the body
// is the file itself when signing left it unchanged.
func (o *signOptions) printCurl(stdout io.Writer, m *signature.Message, changed bool) {
	target := o.curl
	if len(m.Query) > 0 {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + m.Query.Encode()
	}
	fmt.Fprintf(stdout, "curl -sS -X POST %s", shellQuote(target))
	for _, k := range sortedKeys(m.Header) {
		fmt.Fprintf(stdout, " \\\n  -H %s", shellQuote(k+": "+m.Header.Get(k)))
	}
	if o.file != "" && !changed {
		fmt.Fprintf(stdout, " \\\n  --data-binary %s\n", shellQuote("@"+o.file))
	} else {
		fmt.Fprintf(stdout, " \\\n  --data-binary %s\n", shellQuote(string(m.Body)))
	}
}

// headerFlags collects repeated -H 'Name: value' flags in order.
type headerFlags [][2]string

func (h *headerFlags) String() string { return "" }

func (h *headerFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(k) == "" || strings.ContainsAny(strings.TrimSpace(k), " \t") {
		return errors.New("want 'Name: value', e.g. 'X-GitHub-Event: ping'")
	}
	*h = append(*h, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	return nil
}

// eventHeader returns the header in which s's provider names the event
// type, or "".
func eventHeader(s signature.Signer) (name, def string) {
	if e, ok := s.(signature.EventHeader); ok {
		return e.EventHeader()
	}
	return "", ""
}

// decodeParams returns a decode func for scheme.New that reads params as
// the config loader would read them from YAML: strict keys, typed values.
// The secret and url are always strings; --param values are resolved by
// YAML (so allow_sha1=true is a bool and tolerance=10m a duration).
func decodeParams(params [][2]string) func(any) error {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, kv := range params {
		val := &yaml.Node{Kind: yaml.ScalarNode, Value: kv[1]}
		if kv[0] == "secret" || kv[0] == "url" {
			val.Tag = "!!str"
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: kv[0]}, val)
	}
	return func(out any) error {
		b, err := yaml.Marshal(n)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(out); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				msg := linePrefix.ReplaceAllString(strings.Join(te.Errors, "; "), "")
				return errors.New(unknownField.ReplaceAllString(msg, "unknown parameter $1"))
			}
			return err
		}
		return nil
	}
}

// linePrefix is the position yaml gives, meaningless for flags.
var linePrefix = regexp.MustCompile(`line \d+: `)

// unknownField is yaml's word for a key the params struct lacks.
var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// flagError says which flag a scheme's parameter error is about.
func flagError(err error) string {
	var fe *postbox.FieldError
	if !errors.As(err, &fe) {
		return err.Error()
	}
	var msgs []string
	for _, e := range unwrapAll(err) {
		if errors.As(e, &fe) {
			switch fe.Field {
			case "secret", "url":
				msgs = append(msgs, "--"+fe.Field+" "+fe.Message)
			default:
				msgs = append(msgs, "--param "+fe.Field+" "+fe.Message)
			}
		} else {
			msgs = append(msgs, e.Error())
		}
	}
	return strings.Join(msgs, "; ")
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// signers lists the schemes that implement signature.Signer, found by
// building each with a sample secret.
func signers() []string {
	var out []string
	for _, name := range signature.Names() {
		s, _ := signature.Lookup(name)
		for _, p := range [][][2]string{
			{{"secret", "whsec_c2FtcGxl"}},
			{{"secret", "whsec_c2FtcGxl"}, {"url", "https://example.com/"}},
			{{"secret", "s"}, {"header", "X-Signature"}},
		} {
			if v, err := s.New(decodeParams(p)); err == nil {
				if _, ok := v.(signature.Signer); ok {
					out = append(out, name)
				}
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

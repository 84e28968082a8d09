package webhook

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultListen is where webhook listens unless told otherwise (-ip,
// -port): every interface, port 9000. The generated configuration listens
// there too, so that senders need no change.
const DefaultListen = "0.0.0.0:9000"

// Problem is one thing of a hooks file that was not converted, or not
// exactly.
type Problem struct {
	Line int    // line in the hooks file; 0 when not known
	Hook string // the hook's id, or "#3" for the third hook when it has none
	Key  string // the webhook key, e.g. pass-file-to-command[0]
	Msg  string
}

// Format returns p as one line: file:line: hook "id": key: message.
func (p Problem) Format(file string) string {
	loc := file
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", file, p.Line)
	}
	s := loc + ": hook " + fmt.Sprintf("%q", p.Hook)
	if p.Key != "" {
		s += ": " + p.Key
	}
	return s + ": " + p.Msg
}

// Result is a converted hooks file.
type Result struct {
	// Config is the whole postbox configuration: listen on DefaultListen,
	// and the hooks.
	Config *yaml.Node
	// Hooks are the entries of Config's hooks list, for adding to
	// another configuration (see AddHooks).
	Hooks []*yaml.Node
	// Problems lists what was not converted, in the order of the file.
	Problems []Problem
}

// YAML returns the configuration as YAML text.
func (r *Result) YAML() []byte {
	return encode(r.Config)
}

func encode(n *yaml.Node) []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		// Only nodes built here are encoded; they are always valid.
		panic(fmt.Sprintf("webhook: encode generated YAML: %v", err))
	}
	enc.Close()
	return b.Bytes()
}

// Options are webhook's command-line flags that change how hooks are
// served, for `postbox webhook`. The zero value is what `postbox import`
// assumes: webhook's defaults.
type Options struct {
	// URLPrefix is -urlprefix: hooks are served at /URLPrefix/{id};
	// "" with NoPrefix serves them at /{id}. "" alone means "hooks".
	URLPrefix string
	NoPrefix  bool
	// Methods is -http-methods: the methods of hooks without
	// http-methods of their own (nil: any).
	Methods []string
	// Headers are -header name=value: response headers of every hook
	// (a hook's own response-headers win).
	Headers [][2]string
	// CommandTimeout, when set, is how long a command may run (exec
	// timeout:, and the sync hooks' timeout:): webhook had no limit,
	// postbox's default is 30s.
	CommandTimeout time.Duration
	// Serve is set by postbox webhook: commands get the server's whole
	// environment and are looked up when they run, so that a missing one
	// fails its requests (500 for a hook that answers with the output)
	// instead of the server's start, as in webhook.
	Serve bool
}

func (o Options) prefix() string {
	switch {
	case o.NoPrefix:
		return "/"
	case o.URLPrefix == "":
		return "/hooks/"
	}
	return "/" + strings.Trim(o.URLPrefix, "/") + "/"
}

// Convert converts the hooks file data, named name in messages and
// comments. The error is for data that is not a list of hooks at all;
// anything short of that is converted as far as it can be, with the rest
// in Result.Problems.
func Convert(name string, data []byte) (*Result, error) {
	return ConvertWith(name, data, Options{})
}

// ConvertWith is Convert with webhook's flags.
func ConvertWith(name string, data []byte, opts Options) (*Result, error) {
	defs, problems, err := parseHooks(name, data)
	if err != nil {
		return nil, err
	}
	c := &converter{ids: map[string]bool{}, seen: map[string]int{}, problems: problems, opts: opts}
	// Reserve the ids that convert to themselves first, so that a hook
	// renamed for postbox never takes another hook's id.
	for _, h := range defs {
		if idPattern.MatchString(h.ID) {
			c.ids[h.ID] = true
		}
	}
	var hooks []*yaml.Node
	for _, h := range defs {
		hooks = append(hooks, c.hook(h)...)
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
	seq := sequence(hooks...)
	root := mapping("listen", str(DefaultListen))
	comment(root.Content[0],
		"postbox configuration converted from "+filepath.Base(name)+" (adnanh/webhook) by postbox import.",
		"See docs/migrating-from-webhook.md for what differs.",
		"listen: webhook's default address; admin console, API and /metrics stay on 127.0.0.1:8081.")
	set(root, "hooks", seq)
	escapeEnv(root)
	return &Result{Config: &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}, Hooks: hooks, Problems: c.problems}, nil
}

// AddHooks returns the configuration config (YAML text) with hooks as its
// hooks list, for serving a hooks file with the settings (listen, data,
// limits, ...) of a postbox configuration. config must have no hooks of
// its own; it is kept as it is, so that its line numbers stay right.
func AddHooks(config []byte, hooks []*yaml.Node) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(config, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) > 0 {
		root := resolve(doc.Content[0])
		if root.Kind != yaml.MappingNode || root.Style&yaml.FlowStyle != 0 {
			return nil, fmt.Errorf("the configuration must be a block mapping of settings (listen:, data:, ...) to take hooks from a hooks file")
		}
		if get(root, "hooks") != nil {
			return nil, fmt.Errorf("has hooks of its own; with --hooks the hooks come from the hooks file only")
		}
	}
	seq := sequence()
	for _, h := range hooks {
		seq.Content = append(seq.Content, deepCopy(h))
	}
	out := append([]byte(nil), bytes.TrimRight(config, "\n")...)
	if len(out) > 0 {
		out = append(out, '\n')
	}
	return append(out, encode(mapping("hooks", seq))...), nil
}

// converter holds what converting one file needs across hooks.
type converter struct {
	ids      map[string]bool // postbox ids taken
	seen     map[string]int  // webhook ids seen, with their line
	problems []Problem
	opts     Options
}

func (c *converter) report(line int, hook, key, msg string) {
	c.problems = append(c.problems, Problem{Line: line, Hook: hook, Key: key, Msg: msg})
}

package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/exec"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/action/mqtt"
	"gopkg.in/yaml.v3"
)

// actionKinds builds each kind of action from its settings. A new kind is
// one more entry here.
func actionKinds() map[string]func(decode func(any) error) (postbox.Action, error) {
	return map[string]func(decode func(any) error) (postbox.Action, error){
		"exec": func(decode func(any) error) (postbox.Action, error) {
			var c exec.Config
			if err := decode(&c); err != nil {
				return nil, err
			}
			return exec.New(c)
		},
		"http": func(decode func(any) error) (postbox.Action, error) {
			var c httpcall.Config
			if err := decode(&c); err != nil {
				return nil, err
			}
			return httpcall.New(c)
		},
		"mqtt": func(decode func(any) error) (postbox.Action, error) {
			var c mqtt.Config
			if err := decode(&c); err != nil {
				return nil, err
			}
			// Its connection is taken when the configuration is
			// provisioned (Config.Provision), not here.
			return mqtt.New(c)
		},
	}
}

// templated is implemented by actions whose templates can be dry-run.
type templated interface {
	Templates() []postbox.Template
}

func (l *loader) buildAction(n *yaml.Node, field string) postbox.Action {
	kinds := actionKinds()
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		l.addf(n, field, "must be a mapping with one of: %s", strings.Join(names, ", "))
		return nil
	}
	var action postbox.Action
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		build, ok := kinds[k.Value]
		if !ok {
			l.addf(k, field+"."+k.Value, "unknown action kind%s (one of: %s)", suggestName(k.Value, names), strings.Join(names, ", "))
			continue
		}
		if action != nil {
			l.addf(k, field+"."+k.Value, "an action has exactly one kind; write a second list item for another")
			continue
		}
		if v.Kind != yaml.MappingNode {
			l.addf(v, field+"."+k.Value, "must be a mapping of settings")
			continue
		}
		a, err := build(l.decoder(v, field+"."+k.Value))
		if err != nil {
			l.addErr(v, field+"."+k.Value, err)
			continue
		}
		if t, ok := a.(templated); ok {
			for _, tmpl := range t.Templates() {
				if err := dryRun(tmpl); err != nil {
					l.addf(v, fmt.Sprintf("%s.%s.%s", field, k.Value, tmplName(tmpl)), "%v", err)
				}
			}
		}
		action = a
	}
	return action
}

func tmplName(t postbox.Template) string { return t.Name() }

package config

import (
	"fmt"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/celrule"
	"gopkg.in/yaml.v3"
)

// buildRules compiles and type-checks a hook's vars: (in order) and
// when: as CEL (package celrule).
func (l *loader) buildRules(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	if hc.Vars.Kind != 0 {
		if hc.Vars.Kind != yaml.MappingNode {
			l.addf(&hc.Vars, field+": vars", "must be a mapping of name to expression, e.g. repo: payload.repository.full_name")
		} else {
			for i := 0; i+1 < len(hc.Vars.Content); i += 2 {
				k, v := hc.Vars.Content[i], hc.Vars.Content[i+1]
				sub := fmt.Sprintf("%s: vars.%s", field, k.Value)
				if !validEnvName(k.Value) {
					l.addf(k, sub, "%q is not a name (letters, digits and _)", k.Value)
					continue
				}
				p, err := celrule.Compile(v.Value)
				if err != nil {
					l.addf(v, sub, "%v", err)
					continue
				}
				h.Vars = append(h.Vars, postbox.Var{Name: k.Value, Expr: p})
			}
		}
	}
	if hc.When != "" {
		p, err := celrule.CompileBool(hc.When)
		if err != nil {
			l.addf(findKey(n, "when"), field+": when", "%v", err)
			return
		}
		h.When = p
	}
}

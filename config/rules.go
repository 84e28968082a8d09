package config

import (
	"github.com/postbox/postbox"
	"gopkg.in/yaml.v3"
)

// ruleVars are the variables conditions and vars may use.
var ruleVars = []string{"payload", "header", "query", "path", "method", "body", "remote", "vars"}

// buildRules compiles a hook's when: and vars:.
func (l *loader) buildRules(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	// Filled in with the rule package.
	_ = ruleVars
}

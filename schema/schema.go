// Package schema validates parsed payloads against a JSON Schema (draft
// 2020-12 by default; the schema's $schema selects another draft), with
// github.com/santhosh-tekuri/jsonschema/v6.
package schema

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/postbox/postbox"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxProblems is how many violations an answer lists.
const MaxProblems = 5

// Schema is a compiled schema. It implements postbox.Validator.
type Schema struct {
	s *jsonschema.Schema
}

var _ postbox.Validator = (*Schema)(nil)

// Load compiles the schema in the file at path.
func Load(path string) (*Schema, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	s, err := c.Compile(abs)
	if err != nil {
		return nil, err
	}
	return &Schema{s: s}, nil
}

// Validate checks payload (as postbox.ParsePayload returns it). A payload
// that breaks the schema is an EUNPROCESSABLE error listing the first
// MaxProblems violations with their JSON pointers.
func (s *Schema) Validate(payload any) error {
	err := s.s.Validate(normalize(payload))
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return &postbox.Error{Code: postbox.EUNPROCESSABLE, Message: "payload does not match the schema", Detail: err.Error()}
	}
	out := &postbox.Error{Code: postbox.EUNPROCESSABLE, Message: "payload does not match the schema", Detail: ve.Error()}
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if len(out.Problems) >= MaxProblems {
			return
		}
		if u.Error != nil && len(u.Errors) == 0 {
			loc := u.InstanceLocation
			if loc == "" {
				loc = "/"
			}
			out.Problems = append(out.Problems, postbox.Problem{Path: loc, Message: u.Error.String()})
		}
		for _, c := range u.Errors {
			walk(c)
		}
	}
	walk(*ve.BasicOutput())
	return out
}

// normalize converts what the form parser makes (map[string]any holding
// []string) into plain JSON values the validator knows.
func normalize(v any) any {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int:
		return json.Number(fmt.Sprint(x))
	default:
		return v
	}
}

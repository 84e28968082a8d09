package celrule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"

	"github.com/postbox/postbox/internal/spell"
)

// Vars are the variables a rule may read, with their CEL types. payload is
// dyn: its shape is the sender's.
var Vars = []struct {
	Name string
	Type *cel.Type
}{
	{"payload", cel.DynType},
	{"header", cel.MapType(cel.StringType, cel.StringType)},
	{"query", cel.MapType(cel.StringType, cel.StringType)},
	{"path", cel.MapType(cel.StringType, cel.StringType)},
	{"method", cel.StringType},
	{"body", cel.StringType},
	{"remote", cel.StringType},
	{"remote_addr", cel.StringType},
	{"vars", cel.MapType(cel.StringType, cel.DynType)},
}

// newEnv declares Vars, CEL's standard library and the extensions that
// suit webhooks: strings, encoders (base64), math, optional values (a.?b),
// and fromJSON. Not lists (lists.range(n) builds n elements at once) nor
// sets (sets.contains is quadratic without a loop to interrupt): both
// would let a payload cost the server more than MaxCost.
func newEnv() (*cel.Env, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	theAdapter = adapter{reg}
	opts := []cel.EnvOption{
		cel.CustomTypeProvider(reg),
		cel.CustomTypeAdapter(adapter{reg}),
		// 1 < 1.5 and payload.ratio > 0 compare by value, as == does.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		// has(payload.x.y) where payload.x is a string is an error, as
		// the CEL specification says, not false.
		cel.EnableErrorOnBadPresenceTest(true),
		cel.OptionalTypes(),
		cel.ParserExpressionSizeLimit(MaxSourceLen),
		// Not cel.RegexProgramSizeLimit: cel-go v0.31.0 compiles the
		// pattern unsimplified there, and panics on a{2}. MaxCost charges
		// matches the length of the string times that of the pattern.
		ext.Strings(),
		ext.Encoders(),
		ext.Math(),
		cel.Function("fromJSON",
			cel.Overload(fromJSONOverload, []*cel.Type{cel.StringType}, cel.DynType,
				cel.UnaryBinding(fromJSON))),
	}
	for _, v := range Vars {
		opts = append(opts, cel.Variable(v.Name, v.Type))
	}
	e, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	names = knownNames(e)
	return e, nil
}

const fromJSONOverload = "fromJSON_string"

// fromJSON decodes a string that holds JSON (a form field carrying a JSON
// document, as Slack's payload= and adnanh/webhook's
// parse-parameters-as-json): fromJSON(payload.payload).user.name. Numbers
// are read as in a JSON body.
func fromJSON(arg ref.Val) ref.Val {
	s, ok := arg.(types.String)
	if !ok {
		return types.NoSuchOverloadErr()
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return types.NewErr("fromJSON: the string is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return types.NewErr("fromJSON: the string holds more than one JSON value")
	}
	return theAdapter.NativeToValue(v)
}

// names are the variables and functions of the environment, for "did you
// mean" hints.
var names []string

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func knownNames(e *cel.Env) []string {
	var out []string
	for _, v := range Vars {
		out = append(out, v.Name)
	}
	for name := range e.Functions() {
		if identifier.MatchString(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

var undeclared = regexp.MustCompile(`undeclared reference to '([A-Za-z_][A-Za-z0-9_]*)'`)

// suggestion returns ` (did you mean "payload"?)` for an undeclared name
// near a known one, else "".
func suggestion(msg string) string {
	m := undeclared.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	name := m[1]
	best := spell.Nearest(name, names, min(len(name)/3+1, 3)+1)
	if best == "" || best == name {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

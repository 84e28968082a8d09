package celrule

import (
	"encoding/json"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// theAdapter is the environment's adapter, set once by newEnv.
var theAdapter adapter

// adapter turns the values of a request into CEL values lazily, as an
// expression reaches them: a JSON number into an int when it is an integer
// that fits (so that payload.number == 42 and payload.count + 1 are exact)
// and a double otherwise; http.Header and url.Values into maps of their
// first values. Everything else is cel-go's registry's.
type adapter struct {
	reg *types.Registry
}

// NativeToValue implements types.Adapter.
func (a adapter) NativeToValue(v any) ref.Val { return a.adapt(a, v) }

// adapt converts v, with inner adapting the elements of maps and lists
// (a, or an evaluation's budget).
func (a adapter) adapt(inner types.Adapter, v any) ref.Val {
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case map[string]any:
		// The registry would adapt the elements itself, without the
		// cases above.
		return types.NewStringInterfaceMap(inner, v)
	case []any:
		return types.NewDynamicList(inner, v)
	case http.Header:
		return firstValues{inner: inner, m: v, header: true}
	case url.Values:
		return firstValues{inner: inner, m: v}
	}
	return a.reg.NativeToValue(v)
}

// number is a JSON number as CEL sees it: an int when it is an integer
// within int64, else a double.
func number(n json.Number) ref.Val {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return types.Int(i)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && f == 0 {
		return types.NewErr("malformed JSON number %q", string(n))
	}
	// An integer beyond int64 is ±Inf only beyond float64's range,
	// which encoding/json does not decode.
	return types.Double(f)
}

// firstValues is http.Header or url.Values seen as a map(string, string):
// a name gives its first value ("" when it has none). Header names are
// found whatever their case, as HTTP means; query names are not.
// Iteration visits the names.
type firstValues struct {
	inner  types.Adapter // adapts the names an iteration visits
	m      map[string][]string
	header bool
}

var _ traits.Mapper = firstValues{}

// Iterator implements traits.Iterable: the names.
func (f firstValues) Iterator() traits.Iterator {
	return types.NewDynamicMap(f.inner, f.m).Iterator()
}

// Size implements traits.Sizer: the number of names.
func (f firstValues) Size() ref.Val { return types.Int(len(f.m)) }

// ConvertToType implements ref.Val.
func (f firstValues) ConvertToType(t ref.Type) ref.Val {
	return types.NewStringStringMap(theAdapter, f.first()).ConvertToType(t)
}

// Value implements ref.Val: the http.Header or url.Values.
func (f firstValues) Value() any { return f.m }

// Find implements traits.Mapper.
func (f firstValues) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	vs, ok := f.m[string(k)]
	if !ok && f.header {
		vs, ok = f.m[textproto.CanonicalMIMEHeaderKey(string(k))]
		if !ok {
			// A header map not made by net/http may hold names as
			// they were written.
			for name, v := range f.m {
				if strings.EqualFold(name, string(k)) {
					vs, ok = v, true
					break
				}
			}
		}
	}
	if !ok {
		return nil, false
	}
	if len(vs) == 0 {
		return types.String(""), true
	}
	return types.String(vs[0]), true
}

// Get implements traits.Indexer.
func (f firstValues) Get(key ref.Val) ref.Val {
	if v, ok := f.Find(key); ok {
		return v
	}
	return types.ValOrErr(key, "no such key: %v", key)
}

// Contains implements traits.Container: "X-Token" in header.
func (f firstValues) Contains(key ref.Val) ref.Val {
	_, ok := f.Find(key)
	return types.Bool(ok)
}

// Type is a map's, so that type(header) == map.
func (f firstValues) Type() ref.Type { return types.MapType }

// ConvertToNative gives the map of first values.
func (f firstValues) ConvertToNative(t reflect.Type) (any, error) {
	return types.NewStringStringMap(theAdapter, f.first()).ConvertToNative(t)
}

// Equal compares the maps of first values.
func (f firstValues) Equal(other ref.Val) ref.Val {
	return types.NewStringStringMap(theAdapter, f.first()).Equal(other)
}

func (f firstValues) first() map[string]string {
	out := make(map[string]string, len(f.m))
	for k, vs := range f.m {
		out[k] = ""
		if len(vs) > 0 {
			out[k] = vs[0]
		}
	}
	return out
}

// native turns a CEL result into a Go value for templates and vars: a
// value that came from the request as it is, and what the expression
// built as nil, bool, int64, uint64, float64, string, []byte, time.Time,
// time.Duration, []any or map[string]any.
func native(v ref.Val) any {
	switch v := v.(type) {
	case types.Null:
		return nil
	case types.Bool:
		return bool(v)
	case types.Int:
		return int64(v)
	case types.Uint:
		return uint64(v)
	case types.Double:
		return float64(v)
	case types.String:
		return string(v)
	case types.Bytes:
		return []byte(v)
	case types.Timestamp:
		return v.Time
	case types.Duration:
		return time.Duration(v.Duration)
	case firstValues:
		return v.first()
	case traits.Lister:
		if raw, ok := v.Value().([]any); ok {
			return raw
		}
		n := int(v.Size().(types.Int))
		out := make([]any, 0, n)
		for it := v.Iterator(); it.HasNext() == types.True; {
			out = append(out, native(it.Next()))
		}
		return out
	case traits.Mapper:
		switch raw := v.Value().(type) {
		case map[string]any, map[string]string:
			return raw
		}
		out := make(map[string]any)
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			val, _ := v.Find(k)
			key, ok := k.(types.String)
			if !ok {
				key = types.String(strings.TrimSpace(strconvAny(native(k))))
			}
			out[string(key)] = native(val)
		}
		return out
	}
	if o, ok := v.(*types.Optional); ok {
		if !o.HasValue() {
			return nil
		}
		return native(o.GetValue())
	}
	return v.Value()
}

// strconvAny writes a map key that is not a string (an int, a bool).
func strconvAny(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

package postbox

import (
	"net/http"
	"net/url"
	"time"
	"unsafe"
)

// Template renders text from a delivery's TemplateData: an action's
// arguments, a URL, a topic, a response body, a dedup or order key.
// internal/tmpl compiles them from configuration (Go's text/template).
type Template interface {
	// Execute renders the template over data.
	Execute(data *TemplateData) (string, error)
	// String returns the template's source, Name the name it was
	// compiled with (for messages).
	String() string
	Name() string
	// UsesPayload reports whether the template may read .Payload, so
	// that a request whose templates never do is not parsed for them.
	UsesPayload() bool
}

// TemplateData is what templates in args, env, bodies and responses see.
type TemplateData struct {
	Payload  any               // the parsed body: JSON value, form fields, or text
	Body     string            // the raw body as text
	Header   http.Header       // request headers
	Query    url.Values        // query parameters
	Path     map[string]string // path wildcards
	Vars     map[string]any    // the hook's vars
	Delivery DeliveryInfo
	Hook     HookInfo
	// Result is, in sync mode, the result of the last action run, and
	// Results those of every action run, in order.
	Result  *Result
	Results []*Result
}

// DeliveryInfo is the part of a delivery templates see as .Delivery.
type DeliveryInfo struct {
	ID       string
	Received time.Time
}

// HookInfo is the part of a hook templates see as .Hook.
type HookInfo struct{ ID string }

// TemplateDataFor builds the data for templates from a delivery whose body
// is already parsed (internal/payload.TemplateData parses it).
func TemplateDataFor(d *Delivery, payload any) *TemplateData {
	path := d.PathValues
	if path == nil {
		path = map[string]string{}
	}
	return &TemplateData{
		Payload:  payload,
		Body:     bodyString(d.Body),
		Header:   d.Header,
		Query:    d.Query,
		Path:     path,
		Delivery: DeliveryInfo{ID: d.ID, Received: d.Received},
		Hook:     HookInfo{ID: d.HookID},
	}
}

// bodyString returns b as a string without copying it. A delivery's body
// is never modified once read (see Delivery.Body), and every request's
// templates and conditions may see it: the copy cost a 2 KiB allocation
// per request.
func bodyString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

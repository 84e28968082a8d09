package signature

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// jsonField returns the value at path in a JSON object body, as text: a
// string unquoted, a number as written. ok is false when the body is not a
// JSON object or the value is missing or of another kind.
func jsonField(body []byte, path ...string) (value string, ok bool) {
	raw := json.RawMessage(body)
	for _, key := range path {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return "", false
		}
		if raw, ok = obj[key]; !ok {
			return "", false
		}
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "", false
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

// jsonID returns the first of paths (dotted) that holds a value in body, or
// "". It serves Identifier for providers that put the event id in the body.
func jsonID(body []byte, paths ...string) string {
	for _, p := range paths {
		if v, ok := jsonField(body, strings.Split(p, ".")...); ok && v != "" {
			return v
		}
	}
	return ""
}

// firstHeader returns the first of names that r carries, and its value.
func firstHeader(r *http.Request, names ...string) (name, value string) {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return n, v
		}
	}
	return "", ""
}

// formValues parses an application/x-www-form-urlencoded or
// multipart/form-data body (file parts are skipped). It returns nil for any
// other content type or a body that does not parse.
func formValues(contentType string, body []byte) url.Values {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil
		}
		return v
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		out := url.Values{}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				return nil
			}
			if p.FileName() != "" || p.FormName() == "" {
				continue
			}
			// The body is already bounded by the hook's max_body.
			b, err := io.ReadAll(p)
			if err != nil {
				return nil
			}
			out.Add(p.FormName(), string(b))
		}
	}
	return nil
}

// isJSON reports whether body is a JSON value, for providers whose format
// depends on it (Twilio).
func isJSON(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

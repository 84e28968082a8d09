package payload

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/postbox/postbox"
)

// Limits on what Parse accepts, so that a hostile body costs bounded
// work: nesting depth of JSON and the number of multipart parts.
const (
	maxJSONDepth      = 512
	maxMultipartParts = 1000
	maxMultipartMem   = 1 << 20
)

// Parse parses body by its content type: JSON (application/json and
// any +json type) into map/slice/json.Number/string/bool values; a
// urlencoded or multipart form into map[string]any of strings (a repeated
// field becomes []string, a file becomes {filename, size, content_type});
// XML into maps as parseXML says; anything else is returned as the body
// text. A body that does not parse as
// its declared type is an EINVALID error.
func Parse(contentType string, body []byte) (any, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		mediaType = ""
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return ParseJSON(body)
	case mediaType == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, postbox.Errorf(postbox.EINVALID, "malformed form body: %v", err)
		}
		return formMap(vals), nil
	case mediaType == "multipart/form-data":
		return parseMultipart(body, params["boundary"])
	case isXML(mediaType):
		return parseXML(body)
	default:
		return string(body), nil
	}
}

// Check reports whether body is well formed for its content type,
// as Parse would, without building the value: for JSON it only
// scans the bytes once (validJSON), which costs a fraction of parsing them.
func Check(contentType string, body []byte) error {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		return nil
	}
	if mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") {
		if validJSON(body, maxJSONDepth) != nil {
			// The slow path has the final word and encoding/json's
			// message; its own depth check runs first, so a body both
			// malformed and too deep is refused for its depth, as
			// Parse refuses it.
			_, err := ParseJSON(body)
			return err
		}
		return nil
	}
	_, err = Parse(contentType, body)
	return err
}

// ParseJSON parses a JSON body as Parse does (json.Number for numbers,
// nesting at most maxJSONDepth deep).
func ParseJSON(body []byte) (any, error) {
	// validJSON checks the depth in a third of checkJSONDepth's time.
	// Only a body it refuses needs checkJSONDepth, which finds a body too
	// deep even past a syntax error, and refuses it for that, as always.
	if validJSON(body, maxJSONDepth) != nil {
		if err := checkJSONDepth(body, maxJSONDepth); err != nil {
			return nil, err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, postbox.Errorf(postbox.EINVALID, "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, postbox.Errorf(postbox.EINVALID, "malformed JSON body: data after the JSON value")
	}
	return v, nil
}

// checkJSONDepth rejects JSON nested deeper than maxDepth before
// encoding/json recurses into it. Brackets inside strings are skipped.
func checkJSONDepth(body []byte, maxDepth int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return jsonDepthError(maxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func formMap(vals url.Values) map[string]any {
	m := make(map[string]any, len(vals))
	for k, v := range vals {
		if len(v) == 1 {
			m[k] = v[0]
		} else {
			m[k] = v
		}
	}
	return m
}

func parseMultipart(body []byte, boundary string) (any, error) {
	if boundary == "" {
		return nil, postbox.Errorf(postbox.EINVALID, "malformed multipart body: no boundary in Content-Type")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	vals := url.Values{}
	files := map[string]any{}
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		// Only a bare io.EOF is the closing boundary; a wrapped one means
		// the body ended before any boundary.
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, postbox.Errorf(postbox.EINVALID, "malformed multipart body: %v", err)
		}
		if n >= maxMultipartParts {
			return nil, postbox.Errorf(postbox.EINVALID, "malformed multipart body: more than %d parts", maxMultipartParts)
		}
		data, err := io.ReadAll(io.LimitReader(p, maxMultipartMem+1))
		if err != nil {
			return nil, postbox.Errorf(postbox.EINVALID, "malformed multipart body: %v", err)
		}
		if p.FileName() != "" {
			files[p.FormName()] = map[string]any{
				"filename":     p.FileName(),
				"size":         len(data),
				"content_type": p.Header.Get("Content-Type"),
			}
			continue
		}
		vals.Add(p.FormName(), string(data))
	}
	m := formMap(vals)
	for k, v := range files {
		m[k] = v
	}
	return m, nil
}

// TemplateData builds the data for templates from a stored delivery. A
// body that cannot be parsed (taken at ingress all the same only by a
// server that is lenient about bodies, as postbox webhook is) gives an
// empty payload, as it did there.
func TemplateData(d *postbox.Delivery) *postbox.TemplateData {
	p, err := Parse(d.ContentType(), d.Body)
	if err != nil {
		p = map[string]any{}
	}
	return postbox.TemplateDataFor(d, p)
}

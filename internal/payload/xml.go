package payload

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/postbox/postbox"
)

// parseXML parses an XML body into maps, as adnanh/webhook (through mxj)
// does, so that hooks written for it find the same values: the document
// is {root: element}; an element with neither attributes nor children is
// its text; otherwise a map of its children by name (a repeated child is
// a list), its attributes as "-name" and its text, if any, as "#text".
// Nesting is limited as for JSON.
func parseXML(body []byte) (any, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	type frame struct {
		name string
		m    map[string]any
		text strings.Builder
	}
	var stack []*frame
	var root map[string]any
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, postbox.Errorf(postbox.EINVALID, "malformed XML body: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxJSONDepth {
				return nil, postbox.Errorf(postbox.EINVALID, "malformed XML body: nested deeper than %d elements", maxJSONDepth)
			}
			if root != nil && len(stack) == 0 {
				return nil, postbox.Errorf(postbox.EINVALID, "malformed XML body: more than one root element")
			}
			f := &frame{name: t.Name.Local, m: map[string]any{}}
			for _, a := range t.Attr {
				f.m["-"+a.Name.Local] = a.Value
			}
			stack = append(stack, f)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var v any = f.m
			text := strings.TrimSpace(f.text.String())
			switch {
			case len(f.m) == 0:
				v = text
			case text != "":
				f.m["#text"] = text
			}
			if len(stack) == 0 {
				root = map[string]any{f.name: v}
				continue
			}
			addXMLValue(stack[len(stack)-1].m, f.name, v)
		}
	}
	if root == nil {
		return nil, postbox.Errorf(postbox.EINVALID, "malformed XML body: %v", errors.New("no root element"))
	}
	return root, nil
}

// addXMLValue sets m[k] to v, or appends v to the list there when k repeats.
func addXMLValue(m map[string]any, k string, v any) {
	switch old := m[k].(type) {
	case nil:
		m[k] = v
	case []any:
		m[k] = append(old, v)
	default:
		m[k] = []any{old, v}
	}
}

// isXML reports whether mediaType is an XML type: application/xml,
// text/xml or any +xml type.
func isXML(mediaType string) bool {
	return mediaType == "application/xml" || mediaType == "text/xml" || strings.HasSuffix(mediaType, "+xml")
}

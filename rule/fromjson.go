package rule

import (
	"bytes"
	"encoding/json"
	"io"
)

// fromJSON decodes a string that holds JSON (a form field carrying a JSON
// document, as Slack's payload= and adnanh/webhook's
// parse-parameters-as-json): fromJSON(payload.payload).user.name. Numbers
// stay json.Number, as in a JSON body. Its cost grows with the length.
func fromJSON(s *state, x, _ any) (any, error) {
	str := x.(string)
	if err := s.charge(len(str) / 16); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(str)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, rtErr("fromJSON: the string is not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, rtErr("fromJSON: the string holds more than one JSON value")
	}
	return v, nil
}

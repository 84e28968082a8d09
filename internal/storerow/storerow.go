// Package storerow encodes the columns of a delivery that both stores keep
// as text or bytes, so that SQLite and PostgreSQL write them alike.
package storerow

import (
	"encoding/json"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/headerjson"
)

// Row is a delivery's encoded columns.
type Row struct {
	Header     string // a JSON object of arrays of strings, or null
	PathValues string // a JSON object of strings, or null
	Query      string // URL-encoded
	Body       []byte // never nil: the column is NOT NULL
	Received   int64  // Unix nanoseconds
}

// Of encodes d's columns.
func Of(d *postbox.Delivery) (Row, error) {
	r := Row{
		Header:     string(headerjson.Append(nil, d.Header)),
		PathValues: "null",
		Query:      d.Query.Encode(),
		Body:       d.Body,
		Received:   d.Received.UnixNano(),
	}
	if d.PathValues != nil {
		b, err := json.Marshal(d.PathValues)
		if err != nil {
			return Row{}, err
		}
		r.PathValues = string(b)
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	return r, nil
}

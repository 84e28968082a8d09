// Package storerow encodes the columns of a delivery that both stores keep
// as text or bytes, and decodes them, so that SQLite and PostgreSQL write
// and read them alike.
package storerow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

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

// Fill sets d's query, header, path values and arrival time from r, as read
// back from a store; d.ID names d in errors. The body is not set: a store
// scans it into d.Body itself, when it reads it at all.
func (r Row) Fill(d *postbox.Delivery) error {
	var err error
	if d.Query, err = url.ParseQuery(r.Query); err != nil {
		return fmt.Errorf("query of %s: %w", d.ID, err)
	}
	d.Header = http.Header{}
	if err := json.Unmarshal([]byte(r.Header), &d.Header); err != nil {
		return fmt.Errorf("header of %s: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(r.PathValues), &d.PathValues); err != nil {
		return fmt.Errorf("path values of %s: %w", d.ID, err)
	}
	d.Received = time.Unix(0, r.Received).UTC()
	return nil
}

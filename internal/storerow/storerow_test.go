package storerow

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

func TestOfAndFill(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 5, time.UTC)
	d := &postbox.Delivery{
		Header:     http.Header{"X-B": {"2"}, "X-A": {"1", "\u2028"}},
		PathValues: map[string]string{"name": "lamp"},
		Query:      url.Values{"q": {"a b"}},
		Body:       []byte(`{"x":1}`),
		Received:   at,
	}
	r, err := Of(d)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string][]string
	if err := json.Unmarshal([]byte(r.Header), &h); err != nil || !reflect.DeepEqual(h, map[string][]string(d.Header)) {
		t.Errorf("header %s decodes to %v, %v", r.Header, h, err)
	}
	if r.PathValues != `{"name":"lamp"}` || r.Query != "q=a+b" || string(r.Body) != `{"x":1}` || r.Received != at.UnixNano() {
		t.Errorf("row = %+v", r)
	}

	var back postbox.Delivery
	if err := r.Fill(&back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Header, d.Header) || !reflect.DeepEqual(back.PathValues, d.PathValues) ||
		!reflect.DeepEqual(back.Query, d.Query) || !back.Received.Equal(at) || back.Received.Location() != time.UTC {
		t.Errorf("Fill gives back %+v", back)
	}
	bad := Row{Query: "%zz", Header: "{}", PathValues: "null"}
	if err := bad.Fill(&postbox.Delivery{ID: "d1"}); err == nil || !strings.Contains(err.Error(), "query of d1") {
		t.Errorf("a query that is not URL-encoded: %v", err)
	}
	bad = Row{Header: "[", PathValues: "null"}
	if err := bad.Fill(&postbox.Delivery{ID: "d1"}); err == nil || !strings.Contains(err.Error(), "header of d1") {
		t.Errorf("a header that is not JSON: %v", err)
	}
	bad = Row{Header: "{}", PathValues: "7"}
	if err := bad.Fill(&postbox.Delivery{ID: "d1"}); err == nil || !strings.Contains(err.Error(), "path values of d1") {
		t.Errorf("path values that are no object: %v", err)
	}

	empty, err := Of(&postbox.Delivery{})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Header != "null" || empty.PathValues != "null" || empty.Query != "" || empty.Body == nil || len(empty.Body) != 0 {
		t.Errorf("empty delivery: row = %+v (body nil: %t)", empty, empty.Body == nil)
	}
}

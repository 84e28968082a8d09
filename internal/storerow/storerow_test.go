package storerow

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

func TestOf(t *testing.T) {
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

	empty, err := Of(&postbox.Delivery{})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Header != "null" || empty.PathValues != "null" || empty.Query != "" || empty.Body == nil || len(empty.Body) != 0 {
		t.Errorf("empty delivery: row = %+v (body nil: %t)", empty, empty.Body == nil)
	}
}

package admin_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

type listAnswer struct {
	Deliveries []struct {
		ID       string    `json:"id"`
		Hook     string    `json:"hook"`
		State    string    `json:"state"`
		Received time.Time `json:"received"`
		Remote   string    `json:"remote_addr"`
	} `json:"deliveries"`
	Next string `json:"next"`
}

func (a listAnswer) ids() []string {
	var out []string
	for _, d := range a.Deliveries {
		out = append(out, d.ID)
	}
	return out
}

// seed stores 20 lamp deliveries (one action, pending) and 10 gh ones (no
// action, done), one a minute from base, lamp first; the 7th lamp body
// holds "needle".
func seed(f *fixture, base time.Time) (lamp, gh []*postbox.Delivery) {
	for i := range 30 {
		at := base.Add(time.Duration(i) * time.Minute)
		if i < 20 {
			body := fmt.Sprintf(`{"n":%d,"state":"on"}`, i)
			if i == 6 {
				body = `{"n":6,"note":"a needle in the hay"}`
			}
			lamp = append(lamp, f.add("lamp", 1, at, body))
		} else {
			gh = append(gh, f.add("gh", 0, at, fmt.Sprintf(`{"n":%d}`, i)))
		}
	}
	return lamp, gh
}

func TestListDeliveriesFilters(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	lamp, gh := seed(f, base)

	tests := []struct {
		name  string
		query url.Values
		want  int
		check func(t *testing.T, a listAnswer)
	}{
		{"no filter lists every delivery newest first", url.Values{}, 30, func(t *testing.T, a listAnswer) {
			if a.Deliveries[0].ID != gh[9].ID || a.Deliveries[29].ID != lamp[0].ID {
				t.Errorf("order: first %s last %s", a.Deliveries[0].ID, a.Deliveries[29].ID)
			}
			if a.Next != "" {
				t.Errorf("next = %q on the only page", a.Next)
			}
		}},
		{"hook keeps that hook's deliveries", url.Values{"hook": {"gh"}}, 10, func(t *testing.T, a listAnswer) {
			for _, d := range a.Deliveries {
				if d.Hook != "gh" {
					t.Errorf("hook %s listed", d.Hook)
				}
			}
		}},
		{"state keeps deliveries in that state", url.Values{"state": {"pending"}}, 20, nil},
		{"hook and state combine", url.Values{"hook": {"gh"}, "state": {"pending"}}, 0, nil},
		{"q searches bodies", url.Values{"q": {"needle"}}, 1, func(t *testing.T, a listAnswer) {
			if a.Deliveries[0].ID != lamp[6].ID {
				t.Errorf("found %s, want %s", a.Deliveries[0].ID, lamp[6].ID)
			}
		}},
		{"since and until bound the time", url.Values{"since": {base.Add(5 * time.Minute).Format(time.RFC3339)},
			"until": {base.Add(8 * time.Minute).Format(time.RFC3339)}}, 3, func(t *testing.T, a listAnswer) {
			want := []string{lamp[7].ID, lamp[6].ID, lamp[5].ID}
			if !slices.Equal(a.ids(), want) {
				t.Errorf("ids %v, want %v", a.ids(), want)
			}
		}},
		{"limit cuts the page and gives a cursor", url.Values{"limit": {"4"}}, 4, func(t *testing.T, a listAnswer) {
			if a.Next != a.Deliveries[3].ID {
				t.Errorf("next = %q, want the last id %s", a.Next, a.Deliveries[3].ID)
			}
		}},
		{"before pages to older deliveries", url.Values{"before": {gh[0].ID}, "hook": {"lamp"}, "limit": {"500"}}, 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a listAnswer
			f.getJSON("/api/deliveries?"+tt.query.Encode(), &a)
			if len(a.Deliveries) != tt.want {
				t.Fatalf("%d deliveries, want %d: %v", len(a.Deliveries), tt.want, a.ids())
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

func TestListDeliveriesPaginatesEverything(t *testing.T) {
	f := newFixture(t)
	seed(f, time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC))
	var all []string
	before := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		var a listAnswer
		f.getJSON("/api/deliveries?limit=7&before="+before, &a)
		all = append(all, a.ids()...)
		if a.Next == "" {
			if pages != 4 {
				t.Errorf("%d pages, want 5 (7+7+7+7+2)", pages+1)
			}
			break
		}
		before = a.Next
	}
	if len(all) != 30 {
		t.Fatalf("%d deliveries over all pages, want 30", len(all))
	}
	if !slices.IsSortedFunc(all, func(a, b string) int { return strings.Compare(b, a) }) || len(slices.Compact(slices.Clone(all))) != 30 {
		t.Errorf("pages overlap or are out of order: %v", all)
	}
}

func TestListDeliveriesRejectsBadParameters(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"state=bogus", "since=yesterday", "until=2025-13-01", "limit=0", "limit=501", "limit=ten"} {
		t.Run(q, func(t *testing.T) {
			status, body := f.do("GET", "/api/deliveries?"+q, "")
			if status != http.StatusBadRequest || !strings.Contains(string(body), `"code":"invalid"`) {
				t.Errorf("%d %s, want 400 invalid", status, body)
			}
		})
	}
}

type detailAnswer struct {
	ID           string              `json:"id"`
	Hook         string              `json:"hook"`
	State        string              `json:"state"`
	Series       int                 `json:"series"`
	Header       map[string][]string `json:"header"`
	Body         string              `json:"body"`
	BodyBase64   string              `json:"body_base64"`
	BodyUTF8     bool                `json:"body_utf8"`
	Payload      any                 `json:"payload"`
	PayloadError string              `json:"payload_error"`
	URL          string              `json:"url"`
	Verification struct {
		Passed bool     `json:"passed"`
		Auth   []string `json:"auth"`
	} `json:"verification"`
	Attempts []postbox.Attempt `json:"attempts"`
}

func TestShowDelivery(t *testing.T) {
	f := newFixture(t)
	d := f.add("lamp", 1, time.Now(), `{"state":"on","n":1}`)
	f.finish(d.ID, postbox.OutcomeOK, "lamp switched on\n")

	var a detailAnswer
	f.getJSON("/api/deliveries/"+d.ID, &a)
	if a.ID != d.ID || a.Hook != "lamp" || a.State != "done" {
		t.Errorf("id %s hook %s state %s", a.ID, a.Hook, a.State)
	}
	if a.Body != `{"state":"on","n":1}` || a.BodyBase64 != base64.StdEncoding.EncodeToString(d.Body) || !a.BodyUTF8 {
		t.Errorf("body %q base64 %q utf8 %v", a.Body, a.BodyBase64, a.BodyUTF8)
	}
	if p, ok := a.Payload.(map[string]any); !ok || p["state"] != "on" {
		t.Errorf("payload = %#v", a.Payload)
	}
	if a.Header["User-Agent"][0] != "test" || a.URL != "http://127.0.0.1:8080/post" {
		t.Errorf("header %v url %q", a.Header, a.URL)
	}
	if !a.Verification.Passed || !slices.Equal(a.Verification.Auth, []string{"tokenCheck"}) {
		t.Errorf("verification %+v", a.Verification)
	}
	if len(a.Attempts) != 1 || a.Attempts[0].Output != "lamp switched on\n" || a.Attempts[0].Outcome != postbox.OutcomeOK {
		t.Errorf("attempts %+v", a.Attempts)
	}
}

func TestShowDeliveryBinaryAndMalformedBodies(t *testing.T) {
	f := newFixture(t)
	bin := f.add("gh", 0, time.Now(), "\xff\xfeok")
	bad := f.add("gh", 0, time.Now(), `{"unterminated":`)

	var a detailAnswer
	f.getJSON("/api/deliveries/"+bin.ID, &a)
	raw, err := base64.StdEncoding.DecodeString(a.BodyBase64)
	if err != nil || string(raw) != "\xff\xfeok" || a.BodyUTF8 {
		t.Errorf("base64 gives %q (%v), utf8 %v: the exact bytes must survive", raw, err, a.BodyUTF8)
	}
	var b detailAnswer
	f.getJSON("/api/deliveries/"+bad.ID, &b)
	if b.PayloadError == "" || b.Payload != nil || b.Body != `{"unterminated":` {
		t.Errorf("payload %v error %q body %q", b.Payload, b.PayloadError, b.Body)
	}
}

func TestShowDeliveryNotFound(t *testing.T) {
	f := newFixture(t)
	status, body := f.do("GET", "/api/deliveries/01NOSUCHDELIVERY", "")
	if status != http.StatusNotFound || !strings.Contains(string(body), `"code":"not_found"`) {
		t.Errorf("%d %s", status, body)
	}
	status, _ = f.do("GET", "/api/nothing-here", "")
	if status != http.StatusNotFound {
		t.Errorf("unknown API route: %d", status)
	}
}

func TestReplayOne(t *testing.T) {
	f := newFixture(t)
	d := f.add("lamp", 1, time.Now(), `{"state":"on"}`)
	f.finish(d.ID, postbox.OutcomeFailed, "bulb missing")

	status, body := f.do("POST", "/api/deliveries/"+d.ID+"/replay", "")
	if status != http.StatusAccepted || !strings.Contains(string(body), d.ID) {
		t.Fatalf("replay: %d %s", status, body)
	}
	if f.notified.Load() != 1 {
		t.Errorf("queue notified %d times, want 1", f.notified.Load())
	}
	var a detailAnswer
	f.getJSON("/api/deliveries/"+d.ID, &a)
	if a.State != "pending" || a.Series != 1 {
		t.Errorf("after replay: state %s series %d, want pending 1", a.State, a.Series)
	}
	// Replaying while the actions are queued is a conflict.
	if status, body := f.do("POST", "/api/deliveries/"+d.ID+"/replay", ""); status != http.StatusConflict {
		t.Errorf("replay while pending: %d %s, want 409", status, body)
	}
	job := f.finish(d.ID, postbox.OutcomeOK, "on again")
	if job.Series != 1 {
		t.Errorf("the replay's job is series %d, want 1", job.Series)
	}
	f.getJSON("/api/deliveries/"+d.ID, &a)
	if a.State != "done" || len(a.Attempts) != 2 || a.Attempts[0].Series != 0 || a.Attempts[1].Series != 1 ||
		a.Attempts[1].Output != "on again" {
		t.Errorf("after the replay ran: state %s attempts %+v", a.State, a.Attempts)
	}
}

func TestReplayOneErrors(t *testing.T) {
	f := newFixture(t)
	noActions := f.add("gh", 0, time.Now(), `{}`)
	tests := []struct {
		name string
		id   string
		want int
	}{
		{"an unknown delivery is not found", "01NOSUCHDELIVERY", http.StatusNotFound},
		{"a delivery without actions cannot be replayed", noActions.ID, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := f.do("POST", "/api/deliveries/"+tt.id+"/replay", ""); status != tt.want {
				t.Errorf("%d %s, want %d", status, body, tt.want)
			}
		})
	}
	if n := f.notified.Load(); n != 0 {
		t.Errorf("queue notified %d times after failed replays", n)
	}
}

type replayAnswer struct {
	Replayed []string `json:"replayed"`
	Errors   []struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	} `json:"errors"`
}

func TestReplayMany(t *testing.T) {
	f := newFixture(t)
	now := time.Now().Add(-time.Minute) // jobs are due at once
	var failed []*postbox.Delivery
	for i := range 3 {
		d := f.add("lamp", 1, now.Add(time.Duration(i)*time.Second), `{}`)
		f.finish(d.ID, postbox.OutcomeFailed, "")
		failed = append(failed, d)
	}
	pending := f.add("lamp", 1, now.Add(5*time.Second), `{}`)

	var a replayAnswer
	status, body := f.do("POST", "/api/replay", fmt.Sprintf(`{"ids":[%q,%q]}`, failed[0].ID, pending.ID))
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
		t.Fatalf("%d %s", status, body)
	}
	if !slices.Equal(a.Replayed, []string{failed[0].ID}) || len(a.Errors) != 1 || a.Errors[0].ID != pending.ID || a.Errors[0].Code != "conflict" {
		t.Errorf("by ids: %+v", a)
	}
	status, body = f.do("POST", "/api/replay", `{"filter":{"hook":"lamp","state":"failed"}}`)
	a = replayAnswer{}
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
		t.Fatalf("%d %s", status, body)
	}
	if want := []string{failed[2].ID, failed[1].ID}; !slices.Equal(a.Replayed, want) || len(a.Errors) != 0 {
		t.Errorf("by filter: %+v, want %v replayed", a, want)
	}
	if f.notified.Load() != 2 {
		t.Errorf("queue notified %d times, want once per call", f.notified.Load())
	}
	var list listAnswer
	f.getJSON("/api/deliveries?state=failed", &list)
	if len(list.Deliveries) != 0 {
		t.Errorf("still failed: %v", list.ids())
	}
}

func TestReplayManyRejectsBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, body := range []string{
		`{}`,
		`{"filter":{}}`,
		`{"ids":["a"],"filter":{"hook":"lamp"}}`,
		`{"filter":{"state":"asleep"}}`,
		`{"filter":{"hook":"lamp","limit":5000}}`,
		`{"idz":["a"]}`,
		`not json`,
	} {
		t.Run(body, func(t *testing.T) {
			if status, answer := f.do("POST", "/api/replay", body); status != http.StatusBadRequest {
				t.Errorf("%d %s, want 400", status, answer)
			}
		})
	}
}

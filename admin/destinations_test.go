package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/admin"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/storetest"
)

// queueFixture is an admin server beside a real queue over the same store,
// whose hook forwards to a real endpoint that fails until healed.
type queueFixture struct {
	*fixture
	q       *queue.Queue
	healthy atomic.Bool
	dest    string
	hook    *postbox.Hook
}

func newQueueFixture(t *testing.T) *queueFixture {
	t.Helper()
	qf := &queueFixture{}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !qf.healthy.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(target.Close)
	qf.dest = "http://" + target.Listener.Addr().String()
	fwd, err := httpcall.New(httpcall.Config{URL: target.URL + "/x", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	qf.hook = &postbox.Hook{ID: "fwd", Actions: []postbox.Action{fwd},
		Retry: postbox.RetryPolicy{Attempts: 50, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}}
	ref := &queueRef{}
	qf.fixture = newFixture(t, func(o *admin.Options) {
		o.Queue = ref
		o.Notify = func() { ref.q.Notify() }
	})
	qf.q = queue.New(queue.Options{Store: qf.db, Hooks: []*postbox.Hook{qf.hook}, Poll: 5 * time.Millisecond, Observer: qf.srv,
		Destinations: map[string]queue.Policy{"*": {Failures: 2, Cooldown: time.Hour}}})
	ref.q = qf.q
	q := qf.q
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return qf
}

// queueRef is the admin's view of a queue made after the admin server,
// as postbox serve makes them; set before any request.
type queueRef struct{ q *queue.Queue }

func (r *queueRef) Destinations() []queue.DestinationStatus { return r.q.Destinations() }
func (r *queueRef) Resume(name string) error                { return r.q.Resume(name) }

// staticQueue shows one destination in each state, for the tests of
// /metrics that need every family present.
type staticQueue struct{}

func (staticQueue) Destinations() []queue.DestinationStatus {
	return []queue.DestinationStatus{{Name: "http://api.example.com:443", Kind: "io", State: queue.Open}}
}
func (staticQueue) Resume(string) error  { return queue.ErrUnknownDestination }
func (staticQueue) Fenced() queue.Fenced { return queue.Fenced{Renewals: 1, Results: 2} }

func withQueue(o *admin.Options) { o.Queue = staticQueue{} }

func (qf *queueFixture) destinations() []queue.DestinationStatus {
	var v struct{ Destinations []queue.DestinationStatus }
	qf.getJSON("/api/destinations", &v)
	return v.Destinations
}

func TestTheAPIShowsAnOpenDestinationAndResumesIt(t *testing.T) {
	qf := newQueueFixture(t)
	d := storetest.NewDelivery("fwd", 1)
	if err := qf.db.Append(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	qf.q.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds := qf.destinations()
		if len(ds) == 1 && ds[0].Name == qf.dest && ds[0].State == queue.Open {
			if ds[0].Kind != "io" || ds[0].Failures != 2 || ds[0].Opened != 1 || ds[0].Until.IsZero() {
				t.Errorf("open destination %+v, want io, 2 failures, opened once, with the end of its cooldown", ds[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("destinations %+v, want %s open", ds, qf.dest)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var bl struct {
		Jobs, Due int
		Age       float64 `json:"oldest_due_age_seconds"`
	}
	qf.getJSON("/api/backlog", &bl)
	if bl.Jobs != 1 {
		t.Errorf("backlog %+v, want the one job waiting for the open destination", bl)
	}
	if status, body := qf.do("POST", "/api/destinations/resume", `{"name":"http://nowhere:1"}`); status != http.StatusNotFound {
		t.Errorf("resuming an unknown destination: %d %s, want 404", status, body)
	}
	if status, body := qf.do("POST", "/api/destinations/resume", `{"name":"`+qf.dest+`","extra":1}`); status != http.StatusBadRequest {
		t.Errorf("a resume with an unknown field: %d %s, want 400", status, body)
	}
	qf.healthy.Store(true)
	status, body := qf.do("POST", "/api/destinations/resume", `{"name":"`+qf.dest+`"}`)
	if status != http.StatusOK {
		t.Fatalf("resume: %d %s", status, body)
	}
	for {
		got, err := qf.db.Delivery(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == postbox.StateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s is %s after the resume, want done", d.ID, got.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ds := qf.destinations(); ds[0].State != queue.Closed || ds[0].OK != 1 {
		t.Errorf("after the resume: %+v, want closed with one success", ds[0])
	}
	metrics := exposition(t, qf.fixture)
	for _, want := range []string{
		`postbox_destination_state{destination="` + qf.dest + `",state="closed"} 1`,
		`postbox_destination_state{destination="` + qf.dest + `",state="open"} 0`,
		`postbox_destination_attempts_total{destination="` + qf.dest + `",outcome="failed"} 2`,
		`postbox_destination_attempts_total{destination="` + qf.dest + `",outcome="ok"} 1`,
		`postbox_delivery_first_attempt_lag_seconds_count 2`, // one more from exposition,
		`postbox_delivery_done_lag_seconds_count 1`,
		`postbox_queue_jobs{state="all"} `,
		`postbox_queue_oldest_due_seconds `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestTheBacklogAPIDatesTheOldestDueJob(t *testing.T) {
	f := newFixture(t)
	f.now = time.Now().Add(time.Minute)
	f.add("lamp", 1, time.Now(), `{}`)
	f.add("lamp", 1, time.Now(), `{}`)
	var bl map[string]any
	f.getJSON("/api/backlog", &bl)
	b, _ := json.Marshal(bl)
	if bl["jobs"] != 2.0 || bl["due"] != 2.0 {
		t.Errorf("backlog %s, want 2 jobs due", b)
	}
	if age, _ := bl["oldest_due_age_seconds"].(float64); age < 55 || age > 65 {
		t.Errorf("backlog %s, want the oldest due a minute old", b)
	}
}

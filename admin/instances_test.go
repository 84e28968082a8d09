package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

func TestTheInstancesAPIListsEachInstanceWithTheJobsItHolds(t *testing.T) {
	f := newFixture(t, withQueue)
	d := f.add("lamp", 1, time.Now(), `{}`)
	jobs, err := postbox.Claim(context.Background(), f.db, 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	var v struct {
		Self      string
		Instances []postbox.Instance
		Fenced    struct{ Renewals, Results int }
	}
	f.getJSON("/api/instances", &v)
	if v.Self != testInstance || len(v.Instances) != 1 {
		t.Fatalf("/api/instances: %+v, want this instance alone", v)
	}
	in := v.Instances[0]
	if in.ID != testInstance || in.Host != "test-host" || in.PID != 42 || in.State != postbox.InstanceRunning {
		t.Errorf("instance %+v, want this one, running", in)
	}
	if in.Held != 1 || len(in.Jobs) != 1 || in.Jobs[0].Delivery != d.ID || in.Jobs[0].Hook != "lamp" {
		t.Errorf("held %d: %+v, want the claimed job of %s", in.Held, in.Jobs, d.ID)
	}
	if v.Fenced.Renewals != 1 || v.Fenced.Results != 2 {
		t.Errorf("fenced %+v, want the queue's counts", v.Fenced)
	}
	status, body := f.do("GET", "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{`postbox_instances{state="running"} 1`, `postbox_held_jobs{instance_id="` + testInstance + `"} 1`,
		`postbox_fenced_total{write="record"} 2`} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

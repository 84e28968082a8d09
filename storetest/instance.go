package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

var instanceTests = []storeCase{
	{"an instance registers, heartbeats, holds the jobs it claims and deregisters", testInstances},
}

func testInstances(t *testing.T, s postbox.Store) {
	r, ok := s.(postbox.Registry)
	if !ok {
		t.Fatal("the store keeps no instances (postbox.Registry)")
	}
	ctx := context.Background()
	first := &postbox.Instance{ID: "i1", Host: "h1", PID: 11, Version: "v1"}
	if err := r.Register(ctx, first); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, NewDelivery("before", 1))
	unheld := claim(t, s, 1)[0] // claimed as i1
	mustAppend(t, s, NewDelivery("lamp", 1))
	mustAppend(t, s, NewDelivery("lamp", 1))
	second := &postbox.Instance{ID: "i2", Host: "h2", PID: 22, Version: "v2"}
	if err := r.Register(ctx, second); err != nil {
		t.Fatal(err)
	}
	if second.Started.IsZero() || second.Heartbeat.IsZero() {
		t.Errorf("Register set no start or heartbeat: %+v", second)
	}
	held := claim(t, s, 10) // claimed as i2, the handle's latest registration
	if len(held) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(held))
	}
	finish(t, s, unheld, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	time.Sleep(2 * time.Millisecond) // a heartbeat later than the registration
	if err := r.Heartbeat(ctx, "i2"); err != nil {
		t.Fatal(err)
	}
	list, now, err := r.Instances(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Instances: %+v %v, want two", list, err)
	}
	got := map[string]*postbox.Instance{}
	for _, in := range list {
		got[in.ID] = in
	}
	i1, i2 := got["i1"], got["i2"]
	if i1 == nil || i2 == nil || list[0].ID != "i2" {
		t.Fatalf("Instances %+v, want i2 then i1", list)
	}
	if i2.Host != "h2" || i2.PID != 22 || i2.Version != "v2" || !i2.Heartbeat.After(i2.Started) {
		t.Errorf("i2 listed as %+v, want its host, pid, version and a heartbeat after its start", i2)
	}
	if i2.Held != 2 || len(i2.Jobs) != 2 || i2.Jobs[0].Hook != "lamp" || !i2.Jobs[0].Until.After(now) {
		t.Errorf("i2 holds %d: %+v, want the 2 jobs it claimed, leased past now", i2.Held, i2.Jobs)
	}
	if i1.Held != 0 || len(i1.Jobs) != 0 {
		t.Errorf("i1 holds %+v after its job finished", i1.Jobs)
	}
	if st := i2.State; st != postbox.InstanceRunning || i2.StateAt(now) != st {
		t.Errorf("i2 is %q, want running", st)
	}
	if err := postbox.Release(ctx, s, held[0]); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	list, _, err = r.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		switch in.ID {
		case "i1":
			if in.State != postbox.InstanceStopped {
				t.Errorf("i1 after Deregister: %q, want stopped", in.State)
			}
		case "i2":
			if in.Held != 1 {
				t.Errorf("i2 holds %d after handing one back, want 1", in.Held)
			}
		}
	}
}

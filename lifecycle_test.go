package postbox_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/postbox/postbox"
)

// part is an action or a verifier that records its lifecycle in log.
type part struct {
	name string
	log  *[]string
	fail bool // Provision fails
}

func (p *part) Provision(r *postbox.Resources) error {
	if p.fail {
		return errors.New("broker pool closed")
	}
	*p.log = append(*p.log, "provision "+p.name)
	return nil
}

func (p *part) Cleanup() error {
	*p.log = append(*p.log, "cleanup "+p.name)
	return nil
}

func (p *part) Verify(*http.Request, []byte) error { return nil }
func (p *part) Kind() string                       { return "fake" }
func (p *part) Run(context.Context, *postbox.TemplateData) postbox.Result {
	return postbox.Result{}
}

// plain has no lifecycle: it is skipped.
type plain struct{}

func (plain) Kind() string                                              { return "plain" }
func (plain) Run(context.Context, *postbox.TemplateData) postbox.Result { return postbox.Result{} }

func TestAHookProvisionsAndCleansUpItsVerifiersAndActions(t *testing.T) {
	var log []string
	h := &postbox.Hook{ID: "lamp",
		Auth: []postbox.Verifier{&part{name: "auth", log: &log}}, AuthNames: []string{"token"},
		Actions: []postbox.Action{plain{}, &part{name: "mqtt", log: &log}}}
	if err := h.Provision(&postbox.Resources{}); err != nil {
		t.Fatal(err)
	}
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	want := []string{"provision auth", "provision mqtt", "cleanup auth", "cleanup mqtt"}
	if !slices.Equal(log, want) {
		t.Errorf("lifecycle = %q, want %q", log, want)
	}
}

func TestAFailedProvisionGivesBackWhatWasTaken(t *testing.T) {
	var log []string
	h := &postbox.Hook{ID: "lamp",
		Auth:    []postbox.Verifier{&part{name: "auth", log: &log}},
		Actions: []postbox.Action{&part{name: "first", log: &log}, &part{name: "second", log: &log, fail: true}, &part{name: "third", log: &log}}}
	err := h.Provision(&postbox.Resources{})
	if err == nil || !strings.Contains(err.Error(), `hook "lamp": actions[1].fake: provision: broker pool closed`) {
		t.Fatalf("Provision = %v, want the failing action named", err)
	}
	want := []string{"provision auth", "provision first", "cleanup auth", "cleanup first"}
	if !slices.Equal(log, want) {
		t.Errorf("lifecycle = %q, want %q", log, want)
	}
}

// closer counts its Close calls.
type closer struct{ closed int }

func (c *closer) Close() error { c.closed++; return nil }

func TestResourcesAreSharedUntilClosed(t *testing.T) {
	type key struct{}
	var r postbox.Resources
	made := 0
	open := func() io.Closer { made++; return &closer{} }
	a, err := r.Shared(key{}, open)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.Shared(key{}, open)
	if a != b || made != 1 {
		t.Fatalf("two Shared calls made %d resources, want one shared", made)
	}
	r.Close()
	if c := a.(*closer); c.closed != 1 {
		t.Errorf("Close closed the resource %d times, want once", c.closed)
	}
	if _, err := r.Shared(key{}, open); !errors.Is(err, postbox.ErrResourcesClosed) {
		t.Errorf("Shared after Close = %v, want ErrResourcesClosed", err)
	}
}

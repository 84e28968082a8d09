package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// relayStream is an open GET /api/relay.
type relayStream struct {
	t      *testing.T
	res    *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

type relayed struct {
	cursor string
	ID     string      `json:"id"`
	Hook   string      `json:"hook"`
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Suffix string      `json:"suffix"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

func (f *fixture) openRelay(token, query, lastID string) (*relayStream, int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/relay"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	s := &relayStream{t: f.t, res: res, r: bufio.NewReader(res.Body), cancel: cancel}
	f.t.Cleanup(s.close)
	return s, res.StatusCode
}

func (s *relayStream) close() { s.cancel(); s.res.Body.Close() }

// next returns the next delivery event, skipping comments and "ready".
func (s *relayStream) next() relayed {
	s.t.Helper()
	var id, name, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("relay stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name == "delivery":
			var d relayed
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				s.t.Fatalf("delivery event %q: %v", data, err)
			}
			d.cursor = id
			return d
		case line == "":
			name, data = "", ""
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		}
	}
}

// TestRelayFeed follows the relay feed with a token limited to one hook:
// recent deliveries first (since=), then new ones as they are stored, and
// after a reconnect with Last-Event-ID exactly those after it.
func TestRelayFeed(t *testing.T) {
	f := newFixture(t, withTokens)
	old := f.add("gh", 0, f.now.Add(-2*time.Hour), `{"old":1}`)
	gh1 := f.add("gh", 0, f.now.Add(-time.Minute), "{\"n\":1,\"bin\":\"\x00\xff\"}")
	f.add("lamp", 0, f.now.Add(-time.Minute), `{"lamp":1}`)
	gh2 := f.add("gh", 0, f.now.Add(-time.Second), `{"n":2}`)

	s, status := f.openRelay(relayToken, "?since=1h&name=alices-laptop", "")
	if status != 200 || s.res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("relay: %d %s", status, s.res.Header.Get("Content-Type"))
	}
	first := s.next()
	if first.ID != gh1.ID || string(first.Body) != string(gh1.Body) || first.Header.Get("User-Agent") != "test" || first.Method != "POST" {
		t.Fatalf("first event %+v, want %s with its body byte for byte (the old one and lamp's are not listed)", first, gh1.ID)
	}
	second := s.next()
	if second.ID != gh2.ID {
		t.Fatalf("second event %s, want %s", second.ID, gh2.ID)
	}
	// A delivery stored while the stream is open arrives (the poll at the
	// latest: the fixture's deliveries do not pass the observer).
	gh3 := f.add("gh", 0, f.now, `{"n":3}`)
	f.add("lamp", 0, f.now, `{"lamp":2}`)
	if got := s.next(); got.ID != gh3.ID {
		t.Fatalf("live event %s, want %s", got.ID, gh3.ID)
	}
	s.close()

	// Reconnecting after the first event replays exactly the two after it
	// (since= does not apply with a cursor).
	s, _ = f.openRelay(relayToken, "?since=1ms", first.cursor)
	if a, b := s.next(), s.next(); a.ID != gh2.ID || b.ID != gh3.ID {
		t.Errorf("after Last-Event-ID %s: %s, %s; want %s, %s", first.cursor, a.ID, b.ID, gh2.ID, gh3.ID)
	}
	s.close()

	// Without since= or a cursor the stream starts with the next delivery.
	s, _ = f.openRelay(relayToken, "", "")
	gh4 := f.add("gh", 0, f.now, `{"n":4}`)
	if got := s.next(); got.ID != gh4.ID {
		t.Errorf("a fresh stream's first event %s, want the new %s", got.ID, gh4.ID)
	}

	d, err := f.db.Delivery(t.Context(), gh1.ID)
	if err != nil || len(d.Relays) != 1 || d.Relays[0].Listener != "alices-laptop" {
		t.Errorf("relays of %s: %+v (%v), want alices-laptop", gh1.ID, d.Relays, err)
	}
	var detail struct {
		Relays []postbox.Relay `json:"relays"`
	}
	f.getJSON("/api/deliveries/"+gh1.ID, &detail)
	if len(detail.Relays) != 1 {
		t.Errorf("the API shows relays %+v, want one", detail.Relays)
	}
	if d, _ := f.db.Delivery(t.Context(), old.ID); len(d.Relays) != 0 {
		t.Errorf("the delivery before since= was relayed: %+v", d.Relays)
	}
}

// TestRelayRefusesBadInput: a cursor the store did not make, a listener
// name with control characters and a since that is no time are 400.
func TestRelayRefusesBadInput(t *testing.T) {
	f := newFixture(t, withTokens)
	for _, tt := range []struct{ query, lastID string }{
		{"", "not-a-cursor"},
		{"?after=-5", ""},
		{"?name=%1b%5b31m", ""},
		{"?since=yesterday", ""},
	} {
		s, status := f.openRelay(relayToken, tt.query, tt.lastID)
		s.close()
		if status != http.StatusBadRequest {
			t.Errorf("relay%s with Last-Event-ID %q: %d, want 400", tt.query, tt.lastID, status)
		}
	}
}

package tmpl_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/internal/tmpl"
)

// BenchmarkTemplateExecute measures rendering a hook's templates over the
// 2 KiB GitHub payload, as the exec action renders its args for every
// attempt and the ingress its response body for every answer.
func BenchmarkTemplateExecute(b *testing.B) {
	body := benchBody(b, "../../bench/testdata/push.json")
	payload, err := payload.Parse("application/json", body)
	if err != nil {
		b.Fatal(err)
	}
	d := &postbox.Delivery{ID: "01JDQ6Z8Y4W6M1V0K8R7T3N2P5", HookID: "deploy", Method: "POST", Path: "/hooks/deploy",
		Header: http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {"push"}},
		Body:   body, Received: time.Date(2024, 5, 15, 15, 20, 41, 0, time.UTC)}
	data := postbox.TemplateDataFor(d, payload)
	for _, tt := range []struct{ name, src string }{
		{"constant", "SUCCESS"},
		{"field", "{{ .Payload.ref }}"},
		{"args", "{{ .Payload.repository.full_name }}@{{ .Payload.after }} by {{ .Payload.pusher.name }} ({{ .Delivery.ID }})"},
		{"funcs", `{{ default "main" .Payload.repository.default_branch | upper }} {{ .Header.Get "X-Github-Event" }} {{ json .Payload.head_commit.modified }}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			t, err := tmpl.Parse(tt.name, tt.src)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := t.Execute(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchBody(b *testing.B, name string) []byte {
	body, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

package tmpl_test

import (
	"net/http"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/internal/tmpl"
)

func TestTemplates(t *testing.T) {
	d := &postbox.Delivery{ID: "01ABC", HookID: "lamp", Header: http.Header{"Content-Type": {"application/json"}, "X-Event": {"push"}},
		Body: []byte(`{"state":"on","n":12345678901234567890,"list":[1,2]}`), PathValues: map[string]string{"dev": "k1"}}
	data := payload.TemplateData(d)
	tests := []struct{ name, src, want string }{
		{"payload fields", `{{ .Payload.state }}`, "on"},
		{"numbers keep their digits", `{{ .Payload.n }}`, "12345678901234567890"},
		{"a missing field is empty, not <no value>", `[{{ .Payload.nope }}]`, "[]"},
		{"json renders a value", `{{ json .Payload.list }}`, "[1,2]"},
		{"default fills a missing value", `{{ default "off" .Payload.nope }}`, "off"},
		{"headers, path and ids", `{{ .Header.Get "X-Event" }} {{ .Path.dev }} {{ .Delivery.ID }} {{ .Hook.ID }}`, "push k1 01ABC lamp"},
		{"the raw body", `{{ .Body }}`, string(d.Body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := tmpl.Parse(tt.name, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tp.Execute(data)
			if err != nil || got != tt.want {
				t.Errorf("Execute = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestTemplateUsesPayload(t *testing.T) {
	for src, want := range map[string]bool{
		"SUCCESS": false,
		"":        false,
		"{{ .Delivery.ID }} {{ .Header.Get \"X-A\" }}": false,
		"{{ .Body }}": false,
		"{{ if .Result }}{{ .Result.Output }}{{ end }}":                      false,
		"{{ .Payload.ref }}":                                                 true,
		"{{ default \"x\" .Payload.a }}":                                     true,
		"{{ json . }}":                                                       true,
		"{{ $.Payload.a }}":                                                  true,
		"{{ $ }}":                                                            true,
		"{{ $p := .Payload }}{{ $p.a }}":                                     true,
		"{{ with .Delivery }}{{ $.Payload.x }}{{ end }}":                     true,
		"{{ range .Payload.commits }}{{ .id }}{{ end }}":                     true,
		"{{ if .Vars }}{{ else }}{{ .Payload }}{{ end }}":                    true,
		"{{ define \"u\" }}{{ .Payload }}{{ end }}ok":                        true,
		"{{ template \"x\" .Delivery }}{{ define \"x\" }}{{ .ID }}{{ end }}": true,
	} {
		tpl, err := tmpl.Parse("t", src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := tpl.UsesPayload(); got != want {
			t.Errorf("UsesPayload(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestTemplateConstant(t *testing.T) {
	data := postbox.TemplateDataFor(&postbox.Delivery{ID: "d1", Body: []byte(`{"a":1}`)}, map[string]any{"a": 1})
	for src, want := range map[string]string{
		"SUCCESS":                       "SUCCESS",
		"":                              "",
		"line one\nline two\n":          "line one\nline two\n",
		"{{/* a comment */}}ok":         "ok",
		"id={{ .Delivery.ID }}":         "id=d1",
		"{{ .Payload.a }}":              "1",
		"{{ define \"x\" }}y{{ end }}z": "z",
	} {
		tpl, err := tmpl.Parse("t", src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		got, err := tpl.Execute(data)
		if err != nil || got != want {
			t.Errorf("Execute(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
}

package mqtt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/mqtt"
	"github.com/postbox/postbox/config"
)

// fields returns the field of every *postbox.FieldError joined in err.
func fields(err error) []string {
	var out []string
	errs := []error{err}
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *postbox.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		}
	}
	return out
}

func TestNewRejects(t *testing.T) {
	const b, topic = "tcp://127.0.0.1:1883", "cmnd/lamp/POWER"
	tests := []struct {
		name  string
		c     mqtt.Config
		field string
	}{
		{"an empty broker", mqtt.Config{Topic: topic}, "broker"},
		{"an http broker", mqtt.Config{Broker: "http://127.0.0.1:1883", Topic: topic}, "broker"},
		{"a broker without scheme", mqtt.Config{Broker: "127.0.0.1:1883", Topic: topic}, "broker"},
		{"a broker without host", mqtt.Config{Broker: "tcp://", Topic: topic}, "broker"},
		{"a broker with a path", mqtt.Config{Broker: "tcp://127.0.0.1:1883/x", Topic: topic}, "broker"},
		{"a broker with credentials in the URL", mqtt.Config{Broker: "tcp://u:p@127.0.0.1:1883", Topic: topic}, "broker"},
		{"an empty topic", mqtt.Config{Broker: b, Topic: " "}, "topic"},
		{"a topic with +", mqtt.Config{Broker: b, Topic: "cmnd/+/POWER"}, "topic"},
		{"a topic with #", mqtt.Config{Broker: b, Topic: "stat/#"}, "topic"},
		{"a templated topic with a literal wildcard", mqtt.Config{Broker: b, Topic: "cmnd/{{ .Path.device }}/#"}, "topic"},
		{"a topic that is not a valid template", mqtt.Config{Broker: b, Topic: "cmnd/{{ .Path.device }/POWER"}, "topic"},
		{"a payload that is not a valid template", mqtt.Config{Broker: b, Topic: topic, Payload: ptr("{{ if }}")}, "payload"},
		{"qos 3", mqtt.Config{Broker: b, Topic: topic, QoS: ptr(3)}, "qos"},
		{"qos -1", mqtt.Config{Broker: b, Topic: topic, QoS: ptr(-1)}, "qos"},
		{"a password without username", mqtt.Config{Broker: b, Topic: topic, Password: "p"}, "password"},
		{"a client id that is not UTF-8", mqtt.Config{Broker: b, Topic: topic, ClientID: "\xff"}, "client_id"},
		{"a negative timeout", mqtt.Config{Broker: b, Topic: topic, Timeout: -1}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mqtt.New(tt.c)
			if err == nil {
				t.Fatalf("New accepted %+v", tt.c)
			}
			if got := fields(err); len(got) != 1 || got[0] != tt.field {
				t.Errorf("New(%+v) = %v; want one problem with field %q, got %q", tt.c, err, tt.field, got)
			}
		})
	}
}

func TestNewAcceptsEveryBrokerScheme(t *testing.T) {
	for _, b := range []string{"tcp://127.0.0.1:1883", "mqtt://broker.local", "ssl://broker.local:8883", "tls://broker.local",
		"mqtts://broker.local", "ws://broker.local:9001/mqtt", "wss://broker.local/mqtt", "tcp://[::1]:1883"} {
		if _, err := mqtt.New(mqtt.Config{Broker: b, Topic: "a/b", QoS: ptr(0), Username: "u", Password: "p"}); err != nil {
			t.Errorf("New with broker %s: %v", b, err)
		}
	}
}

func TestConfigBuildsMQTTActionsWithoutABroker(t *testing.T) {
	const yml = `
hooks:
  - id: lamp
    path: /lamp/{device}
    actions:
      - mqtt:
          broker: tcp://127.0.0.1:1
          topic: cmnd/{{ .Path.device }}/POWER
          payload: '{{ if eq .Payload.state "on" }}ON{{ else }}OFF{{ end }}'
          qos: 0
          retain: true
          timeout: 3s
`
	cfg, err := config.Parse("postbox.yaml", []byte(yml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, ok := cfg.Hooks[0].Actions[0].(*mqtt.Action)
	if !ok || a.Timeout().String() != "3s" || a.Kind() != "mqtt" {
		t.Fatalf("action = %#v, want an *mqtt.Action with timeout 3s", cfg.Hooks[0].Actions[0])
	}
}

func TestConfigNamesTheLineOfAProblem(t *testing.T) {
	const yml = `
hooks:
  - id: lamp
    actions:
      - mqtt:
          broker: tcp://127.0.0.1:1883
          topic: cmnd/+/POWER
      - mqtt:
          broker: tcp://127.0.0.1:1883
          topic: a
          qos: 5
      - mqtt:
          broker: tcp://127.0.0.1:1883
          topic: a
          retian: true
      - mqtt:
          payload: '{{ .Paylod.state }}'
          broker: tcp://127.0.0.1:1883
          topic: a
`
	_, err := config.Parse("postbox.yaml", []byte(yml), func(string) string { return "" })
	if err == nil {
		t.Fatal("Parse accepted the file")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []struct{ line, field string }{
		{"postbox.yaml:7:", "actions[0].mqtt.topic"},
		{"postbox.yaml:11:", "actions[1].mqtt.qos"},
		{"postbox.yaml:15:", "actions[2].mqtt.retian"},
		{"postbox.yaml:17:", "actions[3].mqtt.payload"},
	} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want.line) && strings.Contains(l, want.field)
		}
		if !found {
			t.Errorf("no problem at %s names %s:\n%s", want.line, want.field, err)
		}
	}
}

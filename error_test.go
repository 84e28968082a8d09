package postbox_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/postbox/postbox"
)

func TestAFieldErrorNamesWhereAndWhat(t *testing.T) {
	tests := []struct {
		name string
		err  postbox.FieldError
		want string
	}{
		{"a message that starts with a verb follows the field",
			postbox.FieldError{File: "postbox.yaml", Line: 12, Field: `hooks[0].auth.token.secret`, Message: "is empty"},
			"postbox.yaml:12: hooks[0].auth.token.secret is empty"},
		{"any other message follows a colon",
			postbox.FieldError{File: "postbox.yaml", Line: 3, Field: "hooks[0].when", Message: "unknown name paylod"},
			"postbox.yaml:3: hooks[0].when: unknown name paylod"},
		{"a known column follows the line",
			postbox.FieldError{File: "postbox.yaml", Line: 7, Column: 15, Field: "hooks[1].when", Message: "undeclared reference to 'paylod'"},
			"postbox.yaml:7:15: hooks[1].when: undeclared reference to 'paylod'"},
		{"a problem of the whole file has no field",
			postbox.FieldError{File: "postbox.yaml", Message: "the file is empty"},
			"postbox.yaml: the file is empty"},
		{"an action's problem, before config places it, is the field and the message",
			postbox.FieldError{Field: "topic", Message: "is empty"},
			"topic is empty"},
		{"control characters in a quoted value keep it one line",
			postbox.FieldError{File: "p.yaml", Line: 2, Field: "listen", Message: "\"a\nb\" has no port"},
			`p.yaml:2: listen: "a␤b" has no port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAFieldErrorIsFoundInAJoinedError(t *testing.T) {
	err := fmt.Errorf("build: %w", errors.Join(errors.New("other"), &postbox.FieldError{Field: "qos", Message: "3 is not 0, 1 or 2"}))
	var fe *postbox.FieldError
	if !errors.As(err, &fe) || fe.Field != "qos" {
		t.Fatalf("errors.As(%v) = %v, want the qos FieldError", err, fe)
	}
}

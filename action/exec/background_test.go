package exec

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// A command that exits while something it started in the background still
// holds its output (a deploy script starting a service) ends when it exits,
// with its own exit status, not as an error one WaitDelay later: the e2e
// crash tests count on it.
func TestACommandWhoseChildHoldsItsOutputEndsWithItsOwnStatus(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		outcome postbox.Outcome
		code    int
	}{
		{"exit 0 is ok", "echo started; sleep 5 & exit 0", postbox.OutcomeOK, 0},
		{"exit 3 is failed with 3", "echo started; sleep 5 & exit 3", postbox.OutcomeFailed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Command: "sh", Args: []string{"-c", tt.script}, Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res := a.Run(context.Background(), &postbox.TemplateData{Payload: map[string]any{}})
			if res.Outcome != tt.outcome || res.ExitCode != tt.code || res.Output != "started\n" {
				t.Errorf("outcome %s, exit %d, output %q, err %v; want %s, %d, started", res.Outcome, res.ExitCode, res.Output, res.Err, tt.outcome, tt.code)
			}
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("took %s: Run waited for the background child", took)
			}
		})
	}
}

package queue

import (
	"strings"
	"testing"
)

func TestLogOutput(t *testing.T) {
	if got := logOutput("deployed\n"); got != "deployed\n" {
		t.Errorf("short output = %q, want it whole", got)
	}
	long := strings.Repeat("é", maxLogOutput) // 2 bytes each
	got := logOutput(long)
	if !strings.HasSuffix(got, "… (2048 bytes more)") || !strings.HasPrefix(got, strings.Repeat("é", maxLogOutput/2)) {
		t.Errorf("long output cut as %q…%q", got[:10], got[len(got)-30:])
	}
}

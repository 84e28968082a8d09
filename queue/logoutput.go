package queue

import (
	"fmt"
	"unicode/utf8"
)

// maxLogOutput is how much of an action's output goes into the log line of
// its attempt; all of it that was kept is in the store and the console.
const maxLogOutput = 2 << 10

// logOutput is the start of output for the log (under systemd, where a
// command's output is looked for first), cut at maxLogOutput.
func logOutput(output string) string {
	if len(output) <= maxLogOutput {
		return output
	}
	cut := maxLogOutput
	for cut > 0 && !utf8.RuneStart(output[cut]) {
		cut--
	}
	return output[:cut] + fmt.Sprintf("… (%d bytes more)", len(output)-cut)
}

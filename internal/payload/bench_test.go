package payload

import (
	"os"
	"testing"
)

// benchBody is the benchmark harness's 2 KiB GitHub push event.
func benchBody(b *testing.B) []byte {
	body, err := os.ReadFile("../../bench/testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkParsePayload measures the ingress's parse of a 2 KiB GitHub
// JSON body (depth check, then encoding/json into any with json.Number).
func BenchmarkParsePayload(b *testing.B) {
	body := benchBody(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckPayload measures the check of a 2 KiB GitHub JSON body
// that no hook reads: "old" is checkJSONDepth then encoding/json.Valid,
// "new" the single pass of validJSON.
func BenchmarkCheckPayload(b *testing.B) {
	body := benchBody(b)
	for _, bc := range []struct {
		name  string
		check func(string, []byte) error
	}{
		{"old", CheckPayloadBefore},
		{"new", Check},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := bc.check("application/json", body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

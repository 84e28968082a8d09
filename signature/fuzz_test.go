package signature

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// The header parsers read attacker-controlled text before any signature is
// checked: they must not panic, and what they return must be well formed.

func FuzzParseStripeSignature(f *testing.F) {
	f.Add("t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	f.Add("t=1,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32))
	f.Add("t=,v1=")
	f.Add("t=1,t=2,v1=00")
	f.Add(",,,=,t")
	f.Fuzz(func(t *testing.T, s string) {
		ts, sigs, err := parseStripeSignature(s)
		if err != nil {
			return
		}
		if ts == "" || len(sigs) == 0 {
			t.Fatalf("%q: no error but ts=%q, %d signatures", s, ts, len(sigs))
		}
		for _, sig := range sigs {
			if len(sig) != sha256.Size {
				t.Fatalf("%q: signature of %d bytes", s, len(sig))
			}
			if !strings.Contains(strings.ToLower(s), hex.EncodeToString(sig)) {
				t.Fatalf("%q: signature %x is not in the header", s, sig)
			}
		}
	})
}

func FuzzParsePaddleSignature(f *testing.F) {
	f.Add("ts=1671552777;h1=eb4d0dc8853be92b7f063b9f3ba5233eb920a09459b6e6b2c26705b4364db151")
	f.Add("ts=1;h1=" + strings.Repeat("ab", 32) + ";h1=" + strings.Repeat("cd", 32))
	f.Add("ts=;h1=")
	f.Add(";;=;ts")
	f.Fuzz(func(t *testing.T, s string) {
		ts, sigs, err := parsePaddleSignature(s)
		if err != nil {
			return
		}
		if ts == "" || len(sigs) == 0 {
			t.Fatalf("%q: no error but ts=%q, %d signatures", s, ts, len(sigs))
		}
		for _, sig := range sigs {
			if len(sig) != sha256.Size {
				t.Fatalf("%q: signature of %d bytes", s, len(sig))
			}
		}
	})
}

func FuzzParseSignatureList(f *testing.F) {
	f.Add("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	f.Add("v1a,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v2,x")
	f.Add("  v1,  ,v1 v1,,")
	f.Fuzz(func(t *testing.T, s string) {
		for _, sig := range parseSignatureList(s) {
			if len(sig) != sha256.Size {
				t.Fatalf("%q: signature of %d bytes", s, len(sig))
			}
			if !strings.Contains(s, "v1,"+base64.StdEncoding.EncodeToString(sig)) {
				t.Fatalf("%q: signature %x is not a v1 entry of the header", s, sig)
			}
		}
	})
}

func FuzzParseSigned(f *testing.F) {
	f.Add("{{.Timestamp}}.{{.Body}}")
	f.Add("v0:{{ .Timestamp }}:{{.Body}}")
	f.Add("{{.ID}}{{.Body}}{{")
	f.Add("}}{{}}{{.Body}}")
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := parseSigned(s, true, true)
		if err != nil {
			return
		}
		body := false
		for _, p := range parts {
			body = body || p.kind == bodyPart
		}
		if !body {
			t.Fatalf("%q: parsed without a body part", s)
		}
	})
}

package signature

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// HMAC checks a signature that a sender computes over the raw body (or over
// a message made of a timestamp, a delivery id and the body) with a shared
// secret, for senders that have no preset:
//
//	hmac: {header: X-Signature, algorithm: sha256, encoding: hex, prefix: "sha256=", secret: ...}
//
// With timestamp_header the timestamp (unix seconds) must be within
// tolerance (default 5m) and is signed as the signed template says (default
// "{{.Timestamp}}.{{.Body}}"). With id_header that header is the dedup key.
// Both must be in the signed template: a header that is checked but not
// signed lets a captured signature be replayed with a fresh value.
var HMAC = Scheme{Name: "hmac", New: newHMAC}

type hmacParams struct {
	Header          string `yaml:"header"`
	Algorithm       string `yaml:"algorithm"`
	Encoding        string `yaml:"encoding"`
	Prefix          string `yaml:"prefix"`
	Secrets         `yaml:",inline"`
	TimestampHeader string        `yaml:"timestamp_header"`
	Tolerance       time.Duration `yaml:"tolerance"`
	Signed          string        `yaml:"signed"`
	IDHeader        string        `yaml:"id_header"`
}

// hashes are the algorithms the generic scheme offers, by config name.
var hashes = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// defaultTolerance is the replay window of providers that do not name one.
const defaultTolerance = 5 * time.Minute

func newHMAC(decode func(any) error) (postbox.Verifier, error) {
	p := hmacParams{Algorithm: "sha256", Encoding: "hex"}
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if p.Header == "" {
		errs = append(errs, &postbox.FieldError{Field: "header", Message: "is empty; name the header that carries the signature"})
	}
	h, ok := hashes[strings.ToLower(p.Algorithm)]
	if !ok {
		errs = append(errs, &postbox.FieldError{Field: "algorithm", Message: "must be sha1, sha256 or sha512"})
	}
	var enc encoding
	switch strings.ToLower(p.Encoding) {
	case "hex":
		enc = hexEncoding
	case "base64":
		enc = base64Encoding
	default:
		errs = append(errs, &postbox.FieldError{Field: "encoding", Message: "must be hex or base64"})
	}
	secrets, err := p.List()
	if err != nil {
		errs = append(errs, err)
	}
	written := p.Signed != ""
	if !written {
		p.Signed = "{{.Body}}"
		if p.TimestampHeader != "" {
			p.Signed = "{{.Timestamp}}.{{.Body}}"
		}
	}
	message, err := parseSigned(p.Signed, p.TimestampHeader != "", p.IDHeader != "")
	if err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, unsignedHeaders(message, p, written)...)
	}
	tol, err := tolerance(p.Tolerance, defaultTolerance)
	if err != nil {
		errs = append(errs, err)
	} else if p.Tolerance != 0 && p.TimestampHeader == "" {
		errs = append(errs, &postbox.FieldError{Field: "tolerance", Message: "needs timestamp_header: without a timestamp there is nothing to check it against"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	v := &macVerifier{
		keys:      keysOf(secrets),
		headers:   []sigHeader{{name: http.CanonicalHeaderKey(p.Header), prefix: p.Prefix, hash: h, enc: enc}},
		message:   message,
		tsHeader:  p.TimestampHeader,
		tsFormat:  unixSeconds,
		tolerance: tol,
	}
	if p.IDHeader != "" {
		v.idHeaders = []string{p.IDHeader}
	}
	return v, nil
}

// parseSigned reads a signed template: literal text with {{.Timestamp}},
// {{.ID}} and {{.Body}} in it. It is not a text/template: the body is
// signed as bytes, never rendered as text.
func parseSigned(s string, haveTS, haveID bool) ([]part, error) {
	bad := func(msg string) error { return &postbox.FieldError{Field: "signed", Message: msg} }
	var out []part
	body := false
	for s != "" {
		i := strings.Index(s, "{{")
		if i < 0 {
			out = append(out, part{kind: literal, text: s})
			break
		}
		if i > 0 {
			out = append(out, part{kind: literal, text: s[:i]})
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, bad("has an unclosed {{")
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		switch name {
		case ".Body":
			out, body = append(out, part{kind: bodyPart}), true
		case ".Timestamp":
			if !haveTS {
				return nil, bad("uses {{.Timestamp}} but timestamp_header is not set")
			}
			out = append(out, part{kind: timestampPart})
		case ".ID":
			if !haveID {
				return nil, bad("uses {{.ID}} but id_header is not set")
			}
			out = append(out, part{kind: idPart})
		default:
			return nil, bad("has {{" + name + "}}; only {{.Timestamp}}, {{.ID}} and {{.Body}} are known")
		}
		s = s[i+j+2:]
	}
	if !body {
		return nil, bad("must contain {{.Body}}, or the body would not be signed")
	}
	return out, nil
}

// unsignedHeaders refuses a timestamp_header or id_header that the signed
// message leaves out (written says whether signed: was in the file). Unsigned, they protect nothing: whoever captured one
// request replays its signature with a fresh timestamp (passing the
// tolerance) and a fresh id (passing dedup), for ever.
func unsignedHeaders(message []part, p hmacParams, written bool) []error {
	var ts, id bool
	for _, m := range message {
		ts = ts || m.kind == timestampPart
		id = id || m.kind == idPart
	}
	var errs []error
	if p.TimestampHeader != "" && !ts {
		errs = append(errs, &postbox.FieldError{Field: "signed", Message: fmt.Sprintf("leaves out {{.Timestamp}}, so the timestamp_header %s is not signed and a captured signature replays with a fresh timestamp: sign it, e.g. signed: %q", p.TimestampHeader, suggestedSigned(p))})
	}
	if p.IDHeader != "" && !id {
		// The default template is nobody's mistake: point at id_header.
		field := "id_header"
		if written {
			field = "signed"
		}
		errs = append(errs, &postbox.FieldError{Field: field, Message: fmt.Sprintf("%s is not signed (signed has no {{.ID}}), so a captured signature replays under a fresh id that dedup does not know: sign it, e.g. signed: %q", p.IDHeader, suggestedSigned(p))})
	}
	return errs
}

// suggestedSigned is a signed template that covers every header set.
func suggestedSigned(p hmacParams) string {
	s := "{{.Body}}"
	if p.TimestampHeader != "" {
		s = "{{.Timestamp}}." + s
	}
	if p.IDHeader != "" {
		s = "{{.ID}}." + s
	}
	return s
}

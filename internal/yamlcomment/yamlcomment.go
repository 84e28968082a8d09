// Package yamlcomment makes text safe to put in a YAML comment.
//
// gopkg.in/yaml.v3 writes a node's comments as they are. A newline in one
// ends the comment and turns the rest into YAML; a control character makes
// the whole document unreadable to a YAML parser; bytes that are not UTF-8
// make the encoder panic. Text that comes from outside (a file name, a key
// of a converted file) goes through Line first.
package yamlcomment

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s with every character that is not printable (control
// characters, line and paragraph separators, a byte order mark, bytes that
// are not UTF-8) written as a Go escape, so that it fits on one comment
// line and reads back as written. Printable text comes back unchanged.
func Line(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

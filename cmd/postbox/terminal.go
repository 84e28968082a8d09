package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// text makes s safe to print on a terminal: control characters other than
// newline and tab, DEL, C1 controls (U+0080 to U+009F, which some
// terminals obey like ESC [) and bytes that are not UTF-8 are written as
// Go escapes (\x1b, \u009b). Unless raw, which returns s as it is.
func text(s string, raw bool) string { return escapeControls(s, raw, "\n\t") }

// line is text for a value printed on one line: a newline is escaped too,
// so that it cannot forge a line of the output.
func line(s string, raw bool) string { return escapeControls(s, raw, "\t") }

func escapeControls(s string, raw bool, keep string) string {
	if raw || !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isControl(r) && !strings.ContainsRune(keep, r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string, keep string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return true
			}
		}
		if isControl(r) && !strings.ContainsRune(keep, r) {
			return true
		}
	}
	return false
}

// isControl reports C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }

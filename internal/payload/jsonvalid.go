package payload

import (
	"fmt"

	"github.com/postbox/postbox"
)

// Classes of bytes for validJSON, one table so that a lookup is one load.
const (
	jsonPlain = 1 << iota // may stand for itself in a string: not '"', '\\' or a control character
	jsonSpace             // insignificant whitespace: space, tab, CR, LF (nothing else)
	jsonDigit
	jsonHex
)

// jsonClass holds the classes of each byte. Every byte from 0x80 up is
// plain: encoding/json.Valid does not check UTF-8 inside strings (the
// decoder turns a bad sequence into U+FFFD), and outside strings such a
// byte is refused anyway because no token begins with it.
var jsonClass = func() (t [256]uint8) {
	for c := 0x20; c < 256; c++ {
		if c != '"' && c != '\\' {
			t[c] |= jsonPlain
		}
	}
	for _, c := range " \t\r\n" {
		t[c] |= jsonSpace
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= jsonDigit | jsonHex
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= jsonHex
		t[c-'a'+'A'] |= jsonHex
	}
	return t
}()

// validJSON reports whether b is exactly one JSON value (RFC 8259, with
// encoding/json.Valid's decision on every input, including its leniency
// about UTF-8 inside strings) nested at most maxDepth arrays and objects
// deep. It is Check's check of a body no hook reads: one pass, no
// allocation unless it fails, no recursion. maxDepth is at most
// maxJSONDepth, the capacity of the stack.
//
// A body nested too deep gets checkJSONDepth's error; any other failure
// gets an error with the offset of the offending byte, which Check
// replaces with encoding/json's message.
func validJSON(b []byte, maxDepth int) error {
	if maxDepth > maxJSONDepth {
		panic(fmt.Sprintf("validJSON: depth %d over the stack's %d", maxDepth, maxJSONDepth))
	}
	// Bit d-1 is set when the container at depth d is an object. One bit
	// a level is enough: an array and an object differ only in what
	// follows a comma and what closes them.
	var objects [maxJSONDepth / 64]uint64
	depth := 0
	i, n := 0, len(b)

value:
	for {
		// Indexes compare as uint so that the compiler drops the bounds
		// check of b[i] in the loops over many bytes.
		for uint(i) < uint(n) && jsonClass[b[i]]&jsonSpace != 0 {
			i++
		}
		if i >= n {
			return jsonSyntaxError(b, i)
		}
		switch c := b[i]; c {
		case '{', '[':
			depth++
			if depth > maxDepth {
				return jsonDepthError(maxDepth)
			}
			w, bit := (depth-1)>>6, uint64(1)<<((depth-1)&63)
			i++
			for uint(i) < uint(n) && jsonClass[b[i]]&jsonSpace != 0 {
				i++
			}
			if c == '[' {
				objects[w] &^= bit
				if i < n && b[i] == ']' {
					i++
					depth--
					break // to the end of a value
				}
				continue value
			}
			objects[w] |= bit
			if i < n && b[i] == '}' {
				i++
				depth--
				break
			}
			if i = jsonKey(b, i); i < 0 {
				return jsonSyntaxError(b, -i-1)
			}
			continue value
		case '"':
			if i = jsonString(b, i+1); i < 0 {
				return jsonSyntaxError(b, -i-1)
			}
		case 't':
			if i+4 > n || string(b[i:i+4]) != "true" {
				return jsonSyntaxError(b, jsonLiteralEnd(b, i, "true"))
			}
			i += 4
		case 'f':
			if i+5 > n || string(b[i:i+5]) != "false" {
				return jsonSyntaxError(b, jsonLiteralEnd(b, i, "false"))
			}
			i += 5
		case 'n':
			if i+4 > n || string(b[i:i+4]) != "null" {
				return jsonSyntaxError(b, jsonLiteralEnd(b, i, "null"))
			}
			i += 4
		default:
			if i = jsonNumber(b, i); i < 0 {
				return jsonSyntaxError(b, -i-1)
			}
		}

		// A value ended at i: what may follow depends on the container.
		for {
			for uint(i) < uint(n) && jsonClass[b[i]]&jsonSpace != 0 {
				i++
			}
			if depth == 0 {
				if i < n {
					return jsonSyntaxError(b, i) // data after the value
				}
				return nil
			}
			if i >= n {
				return jsonSyntaxError(b, i)
			}
			inObject := objects[(depth-1)>>6]>>((depth-1)&63)&1 != 0
			switch c := b[i]; {
			case c == ',':
				i++
				if inObject {
					for uint(i) < uint(n) && jsonClass[b[i]]&jsonSpace != 0 {
						i++
					}
					if i = jsonKey(b, i); i < 0 {
						return jsonSyntaxError(b, -i-1)
					}
				}
				continue value
			case c == '}' && inObject, c == ']' && !inObject:
				i++
				depth--
			default:
				return jsonSyntaxError(b, i)
			}
		}
	}
}

// jsonKey scans an object's key and the colon after it, from b[i] (after
// any space before the key), and returns the index after the colon, or
// -1-j for a syntax error at b[j]. So do the other scanners here: the
// result is negative on failure and still says where.
func jsonKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1 - i
	}
	if i = jsonString(b, i+1); i < 0 {
		return i
	}
	for uint(i) < uint(len(b)) && jsonClass[b[i]]&jsonSpace != 0 {
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return -1 - i
	}
	return i + 1
}

// jsonString scans a string's contents from b[i], after its opening quote,
// and returns the index after its closing quote.
func jsonString(b []byte, i int) int {
	n := len(b)
	for {
		// The bytes of a string are nearly all plain: skip them four at
		// a time while they are.
		for i+4 <= n {
			w := b[i : i+4 : i+4]
			if jsonClass[w[0]]&jsonClass[w[1]]&jsonClass[w[2]]&jsonClass[w[3]]&jsonPlain == 0 {
				break
			}
			i += 4
		}
		for uint(i) < uint(n) && jsonClass[b[i]]&jsonPlain != 0 {
			i++
		}
		if i >= n {
			return -1 - i
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= n {
				return -1 - i
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				// Any four hex digits, as encoding/json: a lone
				// surrogate is valid and decodes to U+FFFD.
				for range 4 {
					i++
					if i >= n || jsonClass[b[i]]&jsonHex == 0 {
						return -1 - i
					}
				}
				i++
			default:
				return -1 - i
			}
		default: // a control character
			return -1 - i
		}
	}
}

// jsonNumber scans a number from b[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// What may follow it is the caller's business, so "01" scans as "0" and
// then fails as data after a value, as in encoding/json.
func jsonNumber(b []byte, i int) int {
	n := len(b)
	if b[i] == '-' {
		i++
	}
	switch {
	case i < n && b[i] == '0':
		i++
	case i < n && '1' <= b[i] && b[i] <= '9':
		i++
		for i < n && jsonClass[b[i]]&jsonDigit != 0 {
			i++
		}
	default:
		return -1 - i
	}
	if i < n && b[i] == '.' {
		i++
		if i >= n || jsonClass[b[i]]&jsonDigit == 0 {
			return -1 - i
		}
		for i < n && jsonClass[b[i]]&jsonDigit != 0 {
			i++
		}
	}
	if i < n && b[i]|0x20 == 'e' {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= n || jsonClass[b[i]]&jsonDigit == 0 {
			return -1 - i
		}
		for i < n && jsonClass[b[i]]&jsonDigit != 0 {
			i++
		}
	}
	return i
}

// jsonLiteralEnd returns the index of the first byte of b from i on that
// does not match lit, for the offset of a syntax error.
func jsonLiteralEnd(b []byte, i int, lit string) int {
	j := 0
	for j < len(lit) && i+j < len(b) && b[i+j] == lit[j] {
		j++
	}
	return i + j
}

// jsonSyntaxError is validJSON's error for a body that is not JSON at
// b[i], or that ends too soon when i is len(b).
func jsonSyntaxError(b []byte, i int) error {
	if i >= len(b) {
		return postbox.Errorf(postbox.EINVALID, "malformed JSON body: unexpected end of JSON input")
	}
	return postbox.Errorf(postbox.EINVALID, "malformed JSON body: invalid character %q at offset %d", b[i], i)
}

// jsonDepthError is the error for JSON nested deeper than maxDepth.
func jsonDepthError(maxDepth int) error {
	return postbox.Errorf(postbox.EINVALID, "malformed JSON body: nested deeper than %d levels", maxDepth)
}

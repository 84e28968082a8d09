package rule

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt    // val is the uint64 magnitude; the parser applies a leading '-'
	tFloat  // val is a float64
	tString // val is the decoded string
	tTrue
	tFalse
	tNull
	tIn
	tNot      // !
	tMinus    // -
	tPlus     // +
	tStar     // *
	tSlash    // /
	tPercent  // %
	tEq       // ==
	tNe       // !=
	tLt       // <
	tLe       // <=
	tGt       // >
	tGe       // >=
	tAnd      // &&
	tOr       // ||
	tQuestion // ?
	tColon    // :
	tDot      // .
	tComma    // ,
	tLParen   // (
	tRParen   // )
	tLBrack   // [
	tRBrack   // ]
	tLBrace   // {
	tRBrace   // }
)

// token is one lexical token. pos is its byte offset in the source.
type token struct {
	kind tokKind
	pos  int
	text string // the source text of the token
	u    uint64 // tInt
	f    float64
	s    string // tString
}

// String returns how a token kind is written.
func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of expression"
	case tIdent:
		return "identifier"
	case tInt:
		return "integer"
	case tFloat:
		return "number"
	case tString:
		return "string"
	}
	const ops = "true false null in ! - + * / % == != < <= > >= && || ? : . , ( ) [ ] { }"
	return strings.Fields(ops)[k-tTrue]
}

// describe names a token for a syntax error.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tIdent, tInt, tFloat:
		return strconv.Quote(t.text)
	case tString:
		return "string " + truncate(t.text, 20)
	}
	return strconv.Quote(t.kind.String())
}

// isReserved reports whether word is one of CEL's words reserved for
// embedding; like CEL, they are refused as identifiers but allowed as field
// names after a dot.
func isReserved(word string) bool {
	switch word {
	case "as", "break", "const", "continue", "else", "for", "function", "if", "import",
		"let", "loop", "package", "namespace", "return", "var", "void", "while":
		return true
	}
	return false
}

// lex splits src into tokens, ending with a tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		// Whitespace and // comments.
		for i < len(src) {
			c := src[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
				i++
			} else if strings.HasPrefix(src[i:], "//") {
				for i < len(src) && src[i] != '\n' {
					i++
				}
			} else {
				break
			}
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tEOF, pos: i})
			return toks, nil
		}
		t, err := lexOne(src, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		i += len(t.text)
	}
}

// lexOne reads the token that starts at src[i].
func lexOne(src string, i int) (token, error) {
	c := src[i]
	two := ""
	if i+1 < len(src) {
		two = src[i : i+2]
	}
	op := func(k tokKind, n int) (token, error) {
		return token{kind: k, pos: i, text: src[i : i+n]}, nil
	}
	switch two {
	case "==":
		return op(tEq, 2)
	case "!=":
		return op(tNe, 2)
	case "<=":
		return op(tLe, 2)
	case ">=":
		return op(tGe, 2)
	case "&&":
		return op(tAnd, 2)
	case "||":
		return op(tOr, 2)
	}
	switch c {
	case '!':
		return op(tNot, 1)
	case '-':
		return op(tMinus, 1)
	case '+':
		return op(tPlus, 1)
	case '*':
		return op(tStar, 1)
	case '/':
		return op(tSlash, 1)
	case '%':
		return op(tPercent, 1)
	case '<':
		return op(tLt, 1)
	case '>':
		return op(tGt, 1)
	case '?':
		return op(tQuestion, 1)
	case ':':
		return op(tColon, 1)
	case ',':
		return op(tComma, 1)
	case '(':
		return op(tLParen, 1)
	case ')':
		return op(tRParen, 1)
	case '[':
		return op(tLBrack, 1)
	case ']':
		return op(tRBrack, 1)
	case '{':
		return op(tLBrace, 1)
	case '}':
		return op(tRBrace, 1)
	case '"', '\'':
		return lexString(src, i, i, false)
	case '.':
		if i+1 < len(src) && isDigit(src[i+1]) {
			return lexNumber(src, i)
		}
		return op(tDot, 1)
	case '=':
		return token{}, errAt(i, "unexpected \"=\" (use == to compare)")
	case '&':
		return token{}, errAt(i, "unexpected \"&\" (use && for \"and\")")
	case '|':
		return token{}, errAt(i, "unexpected \"|\" (use || for \"or\")")
	}
	if isDigit(c) {
		return lexNumber(src, i)
	}
	if isIdentStart(c) {
		j := i + 1
		for j < len(src) && isIdentPart(src[j]) {
			j++
		}
		word := src[i:j]
		if j < len(src) && (src[j] == '"' || src[j] == '\'') {
			switch word {
			case "r", "R":
				return lexString(src, i, j, true)
			case "b", "B":
				return token{}, errAt(i, "byte strings (b\"...\") are not supported")
			}
		}
		k := tIdent
		switch word {
		case "true":
			k = tTrue
		case "false":
			k = tFalse
		case "null":
			k = tNull
		case "in":
			k = tIn
		}
		return token{kind: k, pos: i, text: word}, nil
	}
	r, _ := utf8.DecodeRuneInString(src[i:])
	if r == utf8.RuneError {
		return token{}, errAt(i, "invalid UTF-8 in the expression")
	}
	return token{}, errAt(i, "unexpected character %q", r)
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// lexNumber reads an int (decimal or 0x hex) or a float literal in CEL's
// forms: 1, 0x1F, 1.5, .5, 1e3, 1.5e-3. Unsigned literals (1u) are refused.
func lexNumber(src string, i int) (token, error) {
	j := i
	if strings.HasPrefix(src[i:], "0x") { // CEL has no 0X
		j += 2
		for j < len(src) && isHex(src[j]) {
			j++
		}
		if j == i+2 {
			return token{}, errAt(i, "hexadecimal literal %q has no digits", src[i:j])
		}
		if err := numberEnd(src, i, j); err != nil {
			return token{}, err
		}
		u, err := strconv.ParseUint(src[i+2:j], 16, 64)
		if err != nil {
			return token{}, errAt(i, "integer literal %s is out of range", src[i:j])
		}
		return token{kind: tInt, pos: i, text: src[i:j], u: u}, nil
	}
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	isFloat := false
	if j+1 < len(src) && src[j] == '.' && isDigit(src[j+1]) {
		isFloat = true
		j++
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			isFloat = true
			for k < len(src) && isDigit(src[k]) {
				k++
			}
			j = k
		}
	}
	if err := numberEnd(src, i, j); err != nil {
		return token{}, err
	}
	text := src[i:j]
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, errAt(i, "number literal %s is out of range", text)
		}
		return token{kind: tFloat, pos: i, text: text, f: f}, nil
	}
	u, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return token{}, errAt(i, "integer literal %s is out of range", text)
	}
	return token{kind: tInt, pos: i, text: text, u: u}, nil
}

// numberEnd refuses a number run into letters, like 1u or 12abc.
func numberEnd(src string, i, j int) error {
	if j < len(src) && isIdentPart(src[j]) {
		if src[j] == 'u' || src[j] == 'U' {
			return errAt(i, "unsigned integer literals (%s) are not supported", src[i:j+1])
		}
		k := j
		for k < len(src) && isIdentPart(src[k]) {
			k++
		}
		return errAt(i, "malformed number %q", src[i:k])
	}
	return nil
}

// lexString reads a quoted string whose quote is at src[q]; start is where
// the token begins (before an r prefix). Triple-quoted strings are not
// supported; a string may not span lines.
func lexString(src string, start, q int, raw bool) (token, error) {
	quote := src[q]
	if strings.HasPrefix(src[q:], strings.Repeat(string(quote), 3)) {
		return token{}, errAt(start, "triple-quoted strings are not supported")
	}
	var b strings.Builder
	j := q + 1
	for {
		if j >= len(src) || src[j] == '\n' || src[j] == '\r' {
			return token{}, errAt(start, "string is not terminated")
		}
		c := src[j]
		if c == quote {
			j++
			break
		}
		if c != '\\' {
			b.WriteByte(c)
			j++
			continue
		}
		if raw {
			// As in CEL's grammar, a raw string ends at the first quote
			// of its kind: a backslash escapes nothing.
			b.WriteByte(c)
			j++
			continue
		}
		n, err := unescape(&b, src, j)
		if err != nil {
			return token{}, err
		}
		j += n
	}
	s := b.String()
	if !utf8.ValidString(s) {
		return token{}, errAt(start, "string contains invalid UTF-8")
	}
	return token{kind: tString, pos: start, text: src[start:j], s: s}, nil
}

// unescape decodes the escape sequence at src[j] (a backslash) into b and
// returns its length. The escapes are CEL's: \a \b \f \n \r \t \v \\ \? \"
// \' \` \xHH \uHHHH \UHHHHHHHH and octal \ooo; numeric escapes are code
// points.
func unescape(b *strings.Builder, src string, j int) (int, error) {
	if j+1 >= len(src) {
		return 0, errAt(j, "string is not terminated")
	}
	c := src[j+1]
	if i := strings.IndexByte("abfnrtv\\?\"'`", c); i >= 0 {
		b.WriteByte("\a\b\f\n\r\t\v\\?\"'`"[i])
		return 2, nil
	}
	digits, base := 0, 16
	switch {
	case c == 'x' || c == 'X':
		digits = 2
	case c == 'u':
		digits = 4
	case c == 'U':
		digits = 8
	case '0' <= c && c <= '3':
		digits, base = 3, 8
	default:
		return 0, errAt(j, "unknown escape sequence \\%c", c)
	}
	from := j + 2
	if base == 8 {
		from = j + 1
	}
	if from+digits > len(src) {
		return 0, errAt(j, "escape sequence is too short")
	}
	v, err := strconv.ParseUint(src[from:from+digits], base, 32)
	if err != nil {
		return 0, errAt(j, "malformed escape sequence %q", src[j:from+digits])
	}
	r := rune(v)
	if r > utf8.MaxRune || 0xD800 <= r && r < 0xE000 {
		return 0, errAt(j, "escape sequence %q is not a valid code point", src[j:from+digits])
	}
	b.WriteRune(r)
	return from + digits - j, nil
}

// truncate shortens s to n characters for a message. It reads no more of
// s than it keeps, since s may be a long string from a payload.
func truncate(s string, n int) string {
	i := 0
	for range n {
		if i >= len(s) {
			return s
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i >= len(s) {
		return s
	}
	return s[:i] + "…"
}

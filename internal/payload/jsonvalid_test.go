package payload

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"os"
	"strings"
	"testing"

	"github.com/postbox/postbox"
)

// CheckPayloadBefore is Check as it was before validJSON (the depth
// check, then encoding/json.Valid), kept to fuzz the new one against and
// for BenchmarkCheckPayload.
func CheckPayloadBefore(contentType string, body []byte) error {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		return nil
	}
	if mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") {
		if err := checkJSONDepth(body, maxJSONDepth); err != nil {
			return err
		}
		if !json.Valid(body) {
			_, err := parseJSONBefore(body)
			return err
		}
		return nil
	}
	_, err = Parse(contentType, body)
	return err
}

// parseJSONBefore is ParseJSON as it was before validJSON.
func parseJSONBefore(body []byte) (any, error) {
	if err := checkJSONDepth(body, maxJSONDepth); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, postbox.Errorf(postbox.EINVALID, "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, postbox.Errorf(postbox.EINVALID, "malformed JSON body: data after the JSON value")
	}
	return v, nil
}

// jsonCases are inputs on the edges of the grammar, each with whether
// encoding/json.Valid accepts it (which the test checks, too).
var jsonCases = []struct {
	name  string
	body  string
	valid bool
}{
	{"an empty body is not JSON", "", false},
	{"only whitespace is not JSON", " \t\r\n", false},
	{"a bare scalar is a JSON text", `1`, true},
	{"a bare string is a JSON text", `"a"`, true},
	{"true, false and null are values", `[true,false,null]`, true},
	{"a literal cut short is refused", `tru`, false},
	{"a literal with a wrong letter is refused", `nulL`, false},
	{"a literal runs into the next token only with a separator", `[true1]`, false},
	{"a literal followed by letters is refused", `falsey`, false},
	{"capitalised literals are refused", `True`, false},
	{"space, tab, CR and LF are whitespace everywhere", " \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ 1 , 2 ] \t\r\n} \t\r\n", true},
	{"form feed is not whitespace", "\f1", false},
	{"vertical tab is not whitespace", "[1\v]", false},
	{"a no-break space is not whitespace", "\u00a01", false},
	{"a byte-order mark before the value is refused", "\xef\xbb\xbf{}", false},
	{"a byte-order mark inside a string is just text", "\"\xef\xbb\xbf\"", true},
	{"data after the value is refused", `{} {}`, false},
	{"a second scalar is data after the value", `1 2`, false},
	{"a NUL after the value is refused", "{}\x00", false},
	{"a truncated body is refused", `{"a":[1,2`, false},
	{"an unclosed string is refused", `"abc`, false},
	{"a lone open brace is refused", `{`, false},
	{"a close without an open is refused", `]`, false},
	{"mismatched brackets are refused", `[}`, false},
	{"mismatched braces are refused", `{"a":1]`, false},
	{"empty containers are values", `[{},[],{"a":[]}]`, true},
	{"empty containers with space inside are values", `[ ] `, true},
	{"a trailing comma in an array is refused", `[1,]`, false},
	{"a trailing comma in an object is refused", `{"a":1,}`, false},
	{"a leading comma is refused", `[,1]`, false},
	{"two commas are refused", `[1,,2]`, false},
	{"elements need a comma between them", `[1 2]`, false},
	{"a key needs a colon", `{"a" 1}`, false},
	{"a key needs a value", `{"a":}`, false},
	{"keys are strings, not numbers", `{1:1}`, false},
	{"keys are strings, not barewords", `{a:1}`, false},
	{"a colon in an array is refused", `[1:2]`, false},
	{"a comma in place of a colon is refused", `{"a",1}`, false},
	{"an object member after a comma needs a key", `{"a":1,2}`, false},
	{"single quotes are not strings", `'a'`, false},
	{"duplicate keys are valid JSON", `{"a":1,"a":2}`, true},
	{"zero is a number", `0`, true},
	{"negative zero is a number", `-0`, true},
	{"a leading zero is refused", `01`, false},
	{"a negative leading zero is refused", `-01`, false},
	{"a leading plus is refused", `+1`, false},
	{"a lone minus is refused", `-`, false},
	{"a minus before a space is refused", `- 1`, false},
	{"a fraction needs digits after the point", `1.`, false},
	{"a fraction needs digits before the point", `.5`, false},
	{"a fraction is a number", `-12.50`, true},
	{"an exponent is a number", `1e5`, true},
	{"a capital exponent with a sign is a number", `1.5E+10`, true},
	{"a negative exponent is a number", `0e-0`, true},
	{"an exponent needs digits", `1e`, false},
	{"an exponent's sign needs digits", `1e+`, false},
	{"an exponent takes one sign", `1e+-1`, false},
	{"a huge exponent is still a number", `{"a":1e999999999}`, true},
	{"a hundred-digit integer is a number", "1" + strings.Repeat("0", 100), true},
	{"a hex number is refused", `0x1`, false},
	{"infinity is refused", `Infinity`, false},
	{"NaN is refused", `NaN`, false},
	{"two points are refused", `1.2.3`, false},
	{"a number ends at a comma", `[1,2.5,-3e2]`, true},
	{"a number is followed by a letter only after a separator", `[1a]`, false},
	{"all simple escapes are valid", `"\" \\ \/ \b \f \n \r \t"`, true},
	{"an unknown escape is refused", `"\a"`, false},
	{"an escaped single quote is refused", `"\'"`, false},
	{"an escaped NUL is valid", `{"a":"\u0000"}`, true},
	{"unicode escapes take upper and lower hex", `"\uABCD\uabcd\u0123"`, true},
	{"a unicode escape needs four hex digits", `"\u12"`, false},
	{"a unicode escape refuses a non-hex digit", `"\u12g4"`, false},
	{"a unicode escape cut short is refused", `"\u12`, false},
	{"a lone surrogate escape is valid JSON", `{"a":"\ud800"}`, true},
	{"a reversed surrogate pair is valid JSON", `"\udc00\ud800"`, true},
	{"a backslash at the end is refused", `"\`, false},
	{"an escaped quote does not close the string", `"\"`, false},
	{"an escaped backslash before the closing quote", `"\\"`, true},
	{"a raw control character in a string is refused", "{\"a\":\"\x01\"}", false},
	{"a raw newline in a string is refused", "\"a\nb\"", false},
	{"a raw tab in a string is refused", "\"a\tb\"", false},
	{"DEL in a string is allowed", "\"\x7f\"", true},
	{"a NUL in a string is refused", "\"\x00\"", false},
	{"invalid UTF-8 inside a string is accepted, as json.Valid does", "{\"a\":\"\xff\xfe\"}", true},
	{"a truncated UTF-8 sequence at the end of a string is accepted", "\"\xe2\x82\"", true},
	{"an encoded surrogate in a string is accepted", "\"\xed\xa0\x80\"", true},
	{"valid UTF-8 in a string is accepted", `"héllo, 世界 😀"`, true},
	{"invalid UTF-8 outside a string is refused", "{\"a\":\xff}", false},
	{"valid UTF-8 outside a string is refused", "[é]", false},
	{"brackets inside strings are not nesting", `"` + strings.Repeat("[", 1000) + `"`, true},
	{"a long plain string", `"` + strings.Repeat("abcdefgh", 100) + `"`, true},
	{"a long string broken at every length", `["a","ab","abc","abcd","abcde","abcdef","abcdefg","abcdefgh","abcdefghi"]`, true},
	{"a control character after plain bytes is refused", "\"abcdefgh\x1f\"", false},
	{"nesting at the limit is valid", strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), true},
	{"objects nested at the limit are valid", strings.Repeat(`{"a":`, maxJSONDepth) + "1" + strings.Repeat("}", maxJSONDepth), true},
}

func TestValidJSON(t *testing.T) {
	for _, tt := range jsonCases {
		t.Run(tt.name, func(t *testing.T) {
			if json.Valid([]byte(tt.body)) != tt.valid {
				t.Fatalf("json.Valid(%q) = %v: the case is wrong", tt.body, !tt.valid)
			}
			err := validJSON([]byte(tt.body), maxJSONDepth)
			if (err == nil) != tt.valid {
				t.Errorf("validJSON(%q) = %v, want valid %v", tt.body, err, tt.valid)
			}
			if err != nil && postbox.ErrorCode(err) != postbox.EINVALID {
				t.Errorf("validJSON(%q) = %v with code %q, want %q", tt.body, err, postbox.ErrorCode(err), postbox.EINVALID)
			}
		})
	}
}

func TestValidJSONDepth(t *testing.T) {
	deep := jsonDepthError(maxJSONDepth).Error()
	tests := []struct {
		name, body string
		want       string // the error, or "" for valid
	}{
		{"arrays one over the limit are too deep", strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), deep},
		{"objects one over the limit are too deep", strings.Repeat(`{"a":`, maxJSONDepth+1) + "1" + strings.Repeat("}", maxJSONDepth+1), deep},
		{"mixed containers one over the limit are too deep", strings.Repeat(`[{"a":`, maxJSONDepth/2) + "[1]" + strings.Repeat("}]", maxJSONDepth/2), deep},
		{"unclosed brackets over the limit are too deep, not truncated", strings.Repeat("[", 100000), deep},
		{"closed containers do not count toward the depth", "[" + strings.Repeat("[[]],", 1000) + "[[]]]", ""},
		{"brackets in strings do not count toward the depth", "[" + strings.Repeat(`"[{",`, 1000) + "1]", ""},
		{"a syntax error before the limit is a syntax error", "[x" + strings.Repeat("[", 1000), "malformed JSON body: invalid character 'x' at offset 1"},
		{"a body that ends early says so", `[1,`, "malformed JSON body: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validJSON([]byte(tt.body), maxJSONDepth)
			if got := errString(err); got != tt.want {
				t.Errorf("validJSON = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCheckPayloadMessages pins that the messages clients get, whether a
// hook reads the body or not, are the ones they got before validJSON:
// encoding/json's, or the depth limit's.
func TestCheckPayloadMessages(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"a syntax error gets encoding/json's message", `{"a":tru}`, "malformed JSON body: invalid character '}' in literal true (expecting 'e')"},
		{"an empty body gets encoding/json's message", ``, "malformed JSON body: EOF"},
		{"data after the value is named", `{} {}`, "malformed JSON body: data after the JSON value"},
		{"a body too deep is refused for its depth", strings.Repeat("[", maxJSONDepth+1), "malformed JSON body: nested deeper than 512 levels"},
		{"a body malformed early but too deep is refused for its depth", "x" + strings.Repeat("[", maxJSONDepth+1), "malformed JSON body: nested deeper than 512 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check("application/json", []byte(tt.body))
			if got := errString(err); got != tt.want {
				t.Errorf("Check = %q, want %q", got, tt.want)
			}
			if postbox.ErrorCode(err) != postbox.EINVALID {
				t.Errorf("Check = %v with code %q, want %q", err, postbox.ErrorCode(err), postbox.EINVALID)
			}
			if _, err := Parse("application/json", []byte(tt.body)); errString(err) != tt.want {
				t.Errorf("Parse = %q, want %q", errString(err), tt.want)
			}
			if before := errString(CheckPayloadBefore("application/json", []byte(tt.body))); before != tt.want {
				t.Errorf("before validJSON, Check = %q: the case is wrong", before)
			}
		})
	}
}

func TestValidJSONDoesNotAllocate(t *testing.T) {
	body, err := os.ReadFile("../../bench/testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := validJSON(body, maxJSONDepth); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("validJSON allocates %v times per call, want 0", n)
	}
}

// FuzzValidJSON checks validJSON against what Check did before it:
// checkJSONDepth, then encoding/json.Valid. The limit is both the real one
// and a small one, so that the fuzzer reaches it. Check and
// ParseJSON must answer as they did, messages included.
func FuzzValidJSON(f *testing.F) {
	body, err := os.ReadFile("../../bench/testdata/push.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	for _, tt := range jsonCases {
		if len(tt.body) < 4096 {
			f.Add([]byte(tt.body))
		}
	}
	f.Add([]byte(`[[[1]]]`))
	f.Add([]byte(`{"a":{"b":{"c":[]}}}`))
	f.Add([]byte(`[{"a":[{"b":"\u00e9"}]}, -0.5e-3]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, limit := range []int{maxJSONDepth, 3} {
			err := validJSON(b, limit)
			deep := checkJSONDepth(b, limit) != nil
			valid := json.Valid(b)
			switch {
			case !deep && (err == nil) != valid:
				t.Fatalf("limit %d: validJSON(%q) = %v but json.Valid = %v", limit, b, err, valid)
			case deep && err == nil:
				t.Fatalf("limit %d: validJSON(%q) accepts a body checkJSONDepth finds too deep", limit, b)
			case deep && valid && errString(err) != errString(jsonDepthError(limit)):
				t.Fatalf("limit %d: validJSON(%q) = %v for valid JSON too deep", limit, b, err)
			case !deep && errString(err) == errString(jsonDepthError(limit)):
				t.Fatalf("limit %d: validJSON(%q) finds too deep a body checkJSONDepth accepts", limit, b)
			}
			if err != nil && postbox.ErrorCode(err) != postbox.EINVALID {
				t.Fatalf("validJSON(%q) = %v with code %q", b, err, postbox.ErrorCode(err))
			}
		}
		got := Check("application/json", b)
		want := CheckPayloadBefore("application/json", b)
		if errString(got) != errString(want) {
			t.Fatalf("Check(%q) = %v, before validJSON %v", b, got, want)
		}
		_, got = ParseJSON(b)
		_, want = parseJSONBefore(b)
		if errString(got) != errString(want) {
			t.Fatalf("ParseJSON(%q) = %v, before validJSON %v", b, got, want)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

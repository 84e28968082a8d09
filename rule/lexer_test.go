package rule

import (
	"fmt"
	"testing"
)

func TestTokenNamesLexBack(t *testing.T) {
	// Messages name tokens by String(); each name must be how the token
	// is written.
	for k := tTrue; k <= tRBrace; k++ {
		toks, err := lex(k.String())
		if err != nil || len(toks) != 2 || toks[0].kind != k {
			t.Errorf("lex(%q) = %v, %v; want one %v token", k.String(), toks, err, k)
		}
	}
}

func TestLexNumbers(t *testing.T) {
	tests := []struct {
		src  string
		kind tokKind
		want string
	}{
		{"0", tInt, "0"},
		{"0123", tInt, "123"},
		{"0xff", tInt, "255"},
		{"18446744073709551615", tInt, "18446744073709551615"},
		{"1.0", tFloat, "1"},
		{".25", tFloat, "0.25"},
		{"1e3", tFloat, "1000"},
		{"1E-3", tFloat, "0.001"},
		{"2.5e+2", tFloat, "250"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s is %v %s", tt.src, tt.kind, tt.want), func(t *testing.T) {
			toks, err := lex(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(toks[0].u)
			if tt.kind == tFloat {
				got = fmt.Sprint(toks[0].f)
			}
			if toks[0].kind != tt.kind || got != tt.want {
				t.Errorf("lex(%q) = %v %s, want %v %s", tt.src, toks[0].kind, got, tt.kind, tt.want)
			}
		})
	}
}

func TestLexSplitsMembersFromNumbers(t *testing.T) {
	// "1." is not a float in CEL, so [1].size() and x[0].y lex as members.
	toks, err := lex("l[0].y 1.e")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []tokKind
	for _, tok := range toks {
		kinds = append(kinds, tok.kind)
	}
	want := []tokKind{tIdent, tLBrack, tInt, tRBrack, tDot, tIdent, tInt, tDot, tIdent, tEOF}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
}

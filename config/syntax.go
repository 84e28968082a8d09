package config

import (
	"fmt"
	"strings"
)

// parserProblems are the messages of yaml.v3's parser (not its scanner)
// that carry a line: yaml.v3 counts their lines from 0, one early, and
// names the line where the unclosed collection starts.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected node content",
	"did not find expected <document start>",
	"found undefined tag handle",
}

// syntaxProblem turns a yaml.v3 syntax error into a Problem with the line
// the mistake is on and the field written there.
func (l *loader) syntaxProblem(err error, src []byte) Problem {
	p := l.yamlProblem(err)
	for _, m := range parserProblems {
		if strings.HasPrefix(p.Message, m) {
			// Line 0 (no "line N:") is the first line counted from 0.
			p.Line++
			break
		}
	}
	lines := strings.Split(string(src), "\n")
	switch {
	case strings.HasPrefix(p.Message, "did not find expected ',' or ']'"):
		p.Line = opening(lines, p.Line, "[")
		p.Message = "a [ list opened here is not closed by ] (" + p.Message + ")"
	case strings.HasPrefix(p.Message, "did not find expected ',' or '}'"):
		p.Line = opening(lines, p.Line, "{")
		p.Message = "a { mapping opened here is not closed by } (" + p.Message + ")"
	case strings.HasPrefix(p.Message, "did not find expected key"), strings.HasPrefix(p.Message, "did not find expected '-'"):
		// The indentation is what is wrong: a path read from it would
		// mislead.
		return p
	}
	if p.Line > 0 {
		p.Field = fieldOfLine(lines, p.Line)
	}
	return p
}

// opening returns the line, at or before line, that holds the bracket
// which opened an unclosed collection. yaml.v3 names the line where the
// collection starts, except on the first line, where it names the line
// where it gave up.
func opening(lines []string, line int, bracket string) int {
	for l := min(line, len(lines)); l >= 1; l-- {
		if strings.Contains(lines[l-1], bracket) {
			return l
		}
	}
	return line
}

// fieldOfLine returns the dotted path of the key written on line (from 1)
// of a block-style document, judged by indentation alone: the document
// does not parse, so there is no tree to ask. It is "" when the line holds
// no key.
func fieldOfLine(src []string, line int) string {
	if line < 1 || line > len(src) {
		return ""
	}
	lines := make([]lineInfo, line)
	for i := range lines {
		lines[i] = infoOf(src[i])
	}
	at := line - 1
	if lines[at].key == "" {
		return ""
	}
	path := lines[at].key
	level := lines[at].ind
	if lines[at].dash >= 0 {
		path = fmt.Sprintf("[%d].%s", itemIndex(lines, at), path)
		level = lines[at].dash
	}
	for j := at - 1; j >= 0 && level > 0; j-- {
		l := lines[j]
		if l.blank || (l.dash < 0 && l.ind >= level) || (l.dash >= level) {
			continue
		}
		if l.key != "" && l.ind < level {
			path = l.key + "." + path
		}
		level = l.ind
		if l.dash >= 0 {
			path = fmt.Sprintf("[%d].%s", itemIndex(lines, j), path)
			level = l.dash
		}
	}
	return strings.ReplaceAll(path, ".[", "[")
}

// lineInfo is a line of YAML as indentation sees it.
type lineInfo struct {
	blank bool   // empty or a comment
	dash  int    // the column of a list item's "-", or -1
	ind   int    // the column of the content (after "- ")
	key   string // the key written there, if any
}

func infoOf(s string) lineInfo {
	t := strings.TrimLeft(s, " ")
	l := lineInfo{dash: -1, ind: len(s) - len(t)}
	if rest, ok := strings.CutPrefix(t, "-"); ok && (rest == "" || rest[0] == ' ') {
		l.dash = l.ind
		t = strings.TrimLeft(rest, " ")
		l.ind = len(s) - len(t)
	}
	if t == "" || strings.HasPrefix(t, "#") {
		l.blank = l.dash < 0
		return l
	}
	if k, _, ok := strings.Cut(t, ":"); ok && k != "" && !strings.ContainsAny(k, "[]{}\"'#, \t") {
		l.key = strings.TrimSpace(k)
	}
	return l
}

// itemIndex counts the items of the list that the item at line i belongs
// to before it.
func itemIndex(lines []lineInfo, i int) int {
	n := 0
	for j := i - 1; j >= 0; j-- {
		l := lines[j]
		switch {
		case l.blank:
		case l.dash == lines[i].dash:
			n++
		case l.dash >= 0 && l.dash < lines[i].dash, l.dash < 0 && l.ind <= lines[i].dash:
			return n
		}
	}
	return n
}

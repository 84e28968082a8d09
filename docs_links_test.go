package postbox_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocsNameWhatExists keeps the reference docs true: every relative
// markdown link in README.md, ARCHITECTURE.md and docs/*.md points to a file
// (and, into a markdown file, a heading) that exists, and every backticked
// repository path (`bench/main.go`, `sqlite/job.go:DB.Advance`, `internal/`)
// exists, as does every markdown file named in prose (DESIGN.md). A
// backticked word is taken for a repository path only when it
// starts with one of the repository's top-level directories, or is a bare
// .go or .md file name; config keys, URLs, absolute paths and example files
// (`/etc/postbox/postbox.yaml`, `hooks.json`) are left alone.
func TestDocsNameWhatExists(t *testing.T) {
	docs, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{"README.md", "ARCHITECTURE.md"}, docs...)
	top := topLevelDirs(t)
	checked := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		dir := path.Dir(filepath.ToSlash(doc))
		for _, ref := range docRefs(string(b), top) {
			checked++
			if ref.link {
				checkLink(t, doc, dir, ref)
				continue
			}
			if !exists(ref.target) && !exists(path.Join(dir, ref.target)) {
				t.Errorf("%s:%d names `%s`, which does not exist in the repository", doc, ref.line, ref.text)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked %d references in %d docs; the patterns no longer read them", checked, len(docs))
	}
}

// docRef is one link or backticked path in a markdown file.
type docRef struct {
	line   int
	text   string // as written
	target string // the file, slash-separated, without ./ or :Symbol
	anchor string // a link's #fragment
	link   bool
}

var (
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	backtick = regexp.MustCompile("`([^`\\s]+)`")
	url      = regexp.MustCompile(`[a-z]+://\S+`)
	proseMD  = regexp.MustCompile(`(?:^|[\s(])((?:\.?\.?/)?(?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.md)\b`)
	// notAPath marks backticked text that is code, a pattern or a URL.
	notAPath = regexp.MustCompile(`[{}*<>\[\]()=,@?%|'"$\\]|://|^[/~.-]|^\./\.\.`)
)

// docRefs returns the links and backticked repository paths of a markdown
// text, outside fenced code blocks.
func docRefs(text string, top map[string]bool) []docRef {
	var refs []docRef
	fenced := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			target, anchor, _ := strings.Cut(m[1], "#")
			if strings.Contains(target, ":") { // https:, mailto:
				continue
			}
			refs = append(refs, docRef{line: i + 1, text: m[1], target: target, anchor: anchor, link: true})
		}
		// Links' text and targets were taken above; backticks inside a
		// link's brackets are still checked.
		rest := mdLink.ReplaceAllString(line, "]")
		for _, m := range backtick.FindAllStringSubmatch(rest, -1) {
			if p, ok := repoPath(m[1], top); ok {
				refs = append(refs, docRef{line: i + 1, text: m[1], target: p})
			}
		}
		// A markdown file named in prose (see DESIGN.md, docs/config.md).
		rest = backtick.ReplaceAllString(url.ReplaceAllString(rest, " "), " ")
		for _, m := range proseMD.FindAllStringSubmatch(rest, -1) {
			refs = append(refs, docRef{line: i + 1, text: m[1], target: strings.TrimPrefix(m[1], "./")})
		}
	}
	return refs
}

// repoPath reports whether s, backticked in a doc, names a repository file
// or directory, and which.
func repoPath(s string, top map[string]bool) (string, bool) {
	s = strings.TrimPrefix(s, "./")
	if notAPath.MatchString(s) {
		return "", false
	}
	s, _, _ = strings.Cut(s, ":") // file.go:Symbol, file.md:12
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return "", false
	}
	first, rest, nested := strings.Cut(s, "/")
	if nested {
		// A top-level directory, then a path: `sqlite/job.go`, `cmd/postbox`.
		if !top[first] || rest == "" {
			return "", false
		}
		return s, true
	}
	// A bare name: a Go or markdown file of the repository (`postbox.go`,
	// `CHANGELOG.md`). A bare directory name (`bench`) is a word as often
	// as a path and is left alone.
	switch path.Ext(s) {
	case ".go", ".md":
		return s, true
	}
	return "", false
}

// checkLink checks that a relative link's file exists and, for a markdown
// file, that its #fragment is one of its headings.
func checkLink(t *testing.T, doc, dir string, ref docRef) {
	t.Helper()
	file := doc
	if ref.target != "" {
		file = path.Join(dir, ref.target)
		if !exists(file) {
			t.Errorf("%s:%d links to %s, which does not exist", doc, ref.line, ref.text)
			return
		}
	}
	if ref.anchor == "" || path.Ext(file) != ".md" {
		return
	}
	b, err := os.ReadFile(filepath.FromSlash(file))
	if err != nil {
		t.Errorf("%s:%d links to %s: %v", doc, ref.line, ref.text, err)
		return
	}
	if !headingAnchors(string(b))[ref.anchor] {
		t.Errorf("%s:%d links to %s, but %s has no heading #%s", doc, ref.line, ref.text, file, ref.anchor)
	}
}

// headingAnchors returns the fragments GitHub gives a markdown file's
// headings: lower case, punctuation dropped, spaces as dashes, -1, -2 for
// repeats.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// topLevelDirs returns the repository's top-level directories, hidden ones
// left out.
func topLevelDirs(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			dirs[e.Name()] = true
		}
	}
	return dirs
}

func exists(p string) bool {
	_, err := os.Stat(filepath.FromSlash(p))
	return err == nil
}

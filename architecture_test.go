package postbox_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureNamesWhatExists keeps ARCHITECTURE.md true: every file it
// names exists, and every file.go:Symbol is declared in that file (a
// function, a type, a constant, a variable, or Type.Method).
func TestArchitectureNamesWhatExists(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile("`([A-Za-z0-9_./-]+\\.(?:go|md|js|sql|json|yaml))(?::([A-Za-z0-9_.]+))?`")
	refs := ref.FindAllStringSubmatch(string(doc), -1)
	if len(refs) < 40 {
		t.Fatalf("found %d references in ARCHITECTURE.md; the pattern no longer reads it", len(refs))
	}
	// A bare symbol after a file's first mention (pathHandler.admit)
	// belongs to the last file named with a symbol: checked too.
	declared := map[string]map[string]bool{}
	decls := func(path string) map[string]bool {
		if d, ok := declared[path]; ok {
			return d
		}
		d := map[string]bool{}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, decl := range f.Decls {
			switch x := decl.(type) {
			case *ast.FuncDecl:
				name := x.Name.Name
				if x.Recv != nil && len(x.Recv.List) > 0 {
					typ := x.Recv.List[0].Type
					if s, ok := typ.(*ast.StarExpr); ok {
						typ = s.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						name = id.Name + "." + name
					}
				}
				d[name] = true
			case *ast.GenDecl:
				for _, s := range x.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						d[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							d[n.Name] = true
						}
					}
				}
			}
		}
		declared[path] = d
		return d
	}
	for _, m := range refs {
		path, sym := filepath.FromSlash(m[1]), m[2]
		if _, err := os.Stat(path); err != nil {
			t.Errorf("ARCHITECTURE.md names %s, which does not exist", m[1])
			continue
		}
		if sym != "" && !decls(path)[sym] {
			t.Errorf("ARCHITECTURE.md names %s:%s, which %s does not declare", m[1], sym, m[1])
		}
	}
	// `pathHandler.admit` style steps of the ingress pipeline, named
	// without their file after http/hook.go:pathHandler.serve.
	steps := regexp.MustCompile("`(pathHandler\\.[a-zA-Z]+)`").FindAllStringSubmatch(string(doc), -1)
	for _, m := range steps {
		if !decls(filepath.Join("http", "hook.go"))[m[1]] {
			t.Errorf("ARCHITECTURE.md names %s, which http/hook.go does not declare", m[1])
		}
	}
	if !strings.Contains(string(doc), "architecture_test.go") {
		t.Error("ARCHITECTURE.md should say that this test keeps it true")
	}
}

// TestRootHoldsTheDomainOnly keeps the root package to types, interfaces
// and the error type: it imports nothing of ours, and a function in it is
// small (infrastructure such as parsing or templating lives in internal/).
func TestRootHoldsTheDomainOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	const maxLines = 40
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if strings.HasPrefix(strings.Trim(imp.Path.Value, `"`), "github.com/postbox/") {
				t.Errorf("%s imports %s: the root imports nothing of ours", path, imp.Path.Value)
			}
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
			if end-start > maxLines {
				t.Errorf("%s:%d: %s is %d lines: the root keeps types and small helpers; move the machinery out (internal/)", path, start, fn.Name.Name, end-start)
			}
		}
	}
}

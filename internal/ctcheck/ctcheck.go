// Package ctcheck is a vet-style check, run by the tests of the packages
// that compare secrets, that a secret is never compared with == or
// bytes.Equal: those return at the first differing byte, and the time they
// take tells an attacker how much of a guess was right.
package ctcheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"regexp"
	"strings"
)

// secretish matches the names of values that hold or derive from a secret:
// tokens, passwords, keys, signatures and MAC sums.
var secretish = regexp.MustCompile(`(?i)secret|token|pass|sig|sum|mac|digest|key|want|got`)

// variableTime are the calls that compare in variable time.
var variableTime = map[string]bool{"bytes.Equal": true, "bytes.Compare": true, "strings.Compare": true, "strings.EqualFold": true,
	"strings.HasPrefix": true, "bytes.HasPrefix": true, "reflect.DeepEqual": true, "slices.Equal": true}

// Violations lists, as "file:line: ...", every comparison in the non-test
// Go files of dir that looks at a secret in variable time, and every
// function of mustUse (name → the constant-time call it must make, such as
// "subtle.ConstantTimeCompare") that does not make it.
func Violations(dir string, mustUse map[string]string) ([]string, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var out []string
	found := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if call, ok := mustUse[n.Name.Name]; ok && n.Body != nil {
					found[n.Name.Name] = true
					if !calls(n.Body, call) {
						out = append(out, fmt.Sprintf("%s: %s does not call %s", fset.Position(n.Pos()), n.Name.Name, call))
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && (secret(n.X) && !trivial(n.Y) || secret(n.Y) && !trivial(n.X)) {
					out = append(out, fmt.Sprintf("%s: %s compares a secret with %s", fset.Position(n.Pos()), render(n), n.Op))
				}
			case *ast.CallExpr:
				if name := callName(n.Fun); variableTime[name] {
					for _, a := range n.Args {
						if secret(a) {
							out = append(out, fmt.Sprintf("%s: %s compares a secret in variable time", fset.Position(n.Pos()), name))
							break
						}
					}
				}
			}
			return true
		})
	}
	for name := range mustUse {
		if !found[name] {
			out = append(out, fmt.Sprintf("%s: no function %s", dir, name))
		}
	}
	return out, nil
}

// secret reports whether e names a secret-ish value (or converts one).
func secret(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return secretish.MatchString(e.Name)
	case *ast.SelectorExpr:
		return secretish.MatchString(e.Sel.Name)
	case *ast.CallExpr:
		// string(sig), []byte(token), hex.EncodeToString(sum[:])...
		for _, a := range e.Args {
			if secret(a) {
				return true
			}
		}
	case *ast.SliceExpr:
		return secret(e.X)
	case *ast.IndexExpr:
		return secret(e.X)
	case *ast.ParenExpr:
		return secret(e.X)
	}
	return false
}

// trivial reports whether e is a constant, nil or a length: comparing a
// secret with those tells nothing about its bytes.
func trivial(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil" || e.Name == "true" || e.Name == "false" || e.Obj != nil && e.Obj.Kind == ast.Con
	case *ast.CallExpr:
		return callName(e.Fun) == "len"
	case *ast.SelectorExpr:
		// a package's constant, such as http.MethodPost
		_, ok := e.X.(*ast.Ident)
		return ok && ast.IsExported(e.Sel.Name)
	}
	return false
}

func calls(body *ast.BlockStmt, name string) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok && callName(c.Fun) == name {
			found = true
		}
		return !found
	})
	return found
}

func callName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	}
	return ""
}

func render(e ast.Expr) string { return types.ExprString(e) }

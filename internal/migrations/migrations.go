// Package migrations reads a store's schema steps, NNNN_name.sql files
// embedded in the store's package, in version order. Both stores keep
// their steps this way; each applies them in its own transaction.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Step is one schema step. A step, once released, is never edited: a
// change is a new file.
type Step struct {
	Version int
	Name    string // the file's name, as 0001_init.sql
	SQL     string
}

// Load returns the steps in fsys that match glob, in version order. The
// versions must start at 1 and follow each other.
func Load(fsys fs.FS, glob string) ([]Step, error) {
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, err
	}
	var out []Step
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version, as 0001_init.sql", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Step{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must follow each other from 1", m.Name)
		}
	}
	return out, nil
}

package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadOrdersStepsByVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
		"m/README":        {Data: []byte("not a step")},
	}
	steps, err := Load(fsys, "m/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0] != (Step{1, "0001_init.sql", "A"}) || steps[1] != (Step{2, "0002_more.sql", "B"}) {
		t.Errorf("steps %+v", steps)
	}
}

func TestLoadRefusesBadNumbering(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no version": {"m/init.sql": {}},
		"version 0":  {"m/0000_init.sql": {}},
		"a gap":      {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"twice":      {"m/0001_a.sql": {}, "m/001_b.sql": {}},
	} {
		if _, err := Load(fsys, "m/*.sql"); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: %v, want an error naming the migration", name, err)
		}
	}
}

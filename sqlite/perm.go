package sqlite

import "os"

// fileMode is the mode of the database file and of the -wal and -shm files
// beside it: they hold every body postbox received, with whatever secrets
// senders put in them, so only postbox's own user may read them.
const fileMode = 0o600

// restrictFiles creates the database file at path with fileMode when it
// does not exist yet, before SQLite would create it 0644: SQLite then
// gives the -wal and -shm files the database file's mode. Files an older
// postbox created, or left by a copy, lose their group and other access.
// It is best effort: a file postbox may not change is left to SQLite to
// open or refuse.
func restrictFiles(path string) {
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode); err == nil {
		f.Close()
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		os.Chmod(p, fi.Mode().Perm()&^0o077)
	}
}

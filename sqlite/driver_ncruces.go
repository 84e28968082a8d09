//go:build mips || mipsle || sqlite_ncruces

package sqlite

import _ "github.com/ncruces/go-sqlite3/driver" // pure Go (SQLite as Wasm, translated to Go), registered as "sqlite3"

// driverName is the database/sql driver the store opens: on MIPS (and
// with the build tag sqlite_ncruces) github.com/ncruces/go-sqlite3, as
// modernc.org/sqlite has no MIPS port. Both speak SQLite's one dialect and
// write the same file format.
const driverName = "sqlite3"

// Driver names the SQLite library this binary was built with.
const Driver = "github.com/ncruces/go-sqlite3"

//go:build !(mips || mipsle || sqlite_ncruces)

package sqlite

import _ "modernc.org/sqlite" // pure Go (SQLite translated from C), registered as "sqlite"

// driverName is the database/sql driver the store opens: modernc.org/sqlite
// everywhere but MIPS, where it does not build (driver_ncruces.go).
const driverName = "sqlite"

// Driver names the SQLite library this binary was built with.
const Driver = "modernc.org/sqlite"

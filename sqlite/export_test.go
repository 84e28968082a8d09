package sqlite

// DriverName is the database/sql driver this build opens files with, for
// the external tests' own connections.
const DriverName = driverName

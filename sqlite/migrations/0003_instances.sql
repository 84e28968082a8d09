-- Instances register themselves (issue 19): one row per process that
-- served from this store, with its heartbeat; jobs record which instance
-- claimed them. Times are ns since the epoch.
CREATE TABLE instances (
	id        TEXT PRIMARY KEY,
	host      TEXT NOT NULL,
	pid       INTEGER NOT NULL,
	version   TEXT NOT NULL,
	started   INTEGER NOT NULL,
	heartbeat INTEGER NOT NULL,
	stopped   INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE jobs ADD COLUMN holder TEXT NOT NULL DEFAULT '';

-- The schema as it was before migrations were versioned: every statement
-- says IF NOT EXISTS, so that a data directory written then is recognized
-- as version 1 and left as it is. A step, once released, is never edited:
-- a change is a new file.

CREATE TABLE IF NOT EXISTS deliveries (
	id          TEXT PRIMARY KEY,
	hook        TEXT NOT NULL,
	method      TEXT NOT NULL,
	path        TEXT NOT NULL,
	query       TEXT NOT NULL,
	header      TEXT NOT NULL,
	body        BLOB NOT NULL,
	remote      TEXT NOT NULL,
	received    INTEGER NOT NULL,
	path_values TEXT NOT NULL,
	actions     INTEGER NOT NULL,
	key         TEXT NOT NULL,
	state       TEXT NOT NULL,
	dedup_key   TEXT NOT NULL,
	duplicate_of TEXT NOT NULL,
	series      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_hook ON deliveries (hook, id);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state, id);
-- Hook stats and per-minute counts read these instead of every row.
CREATE INDEX IF NOT EXISTS deliveries_stats ON deliveries (hook, state, received);
CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received);

-- One row per delivery with work left: the action to run next.
CREATE TABLE IF NOT EXISTS jobs (
	delivery TEXT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
	hook     TEXT NOT NULL,
	series   INTEGER NOT NULL,
	action   INTEGER NOT NULL,
	attempt  INTEGER NOT NULL,
	due      INTEGER NOT NULL,
	lease    INTEGER NOT NULL,
	failed   INTEGER NOT NULL,
	key      TEXT NOT NULL -- the delivery's ordering key (order: per-key)
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (due);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (hook, key, delivery) WHERE key != '';

CREATE TABLE IF NOT EXISTS attempts (
	delivery  TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	series    INTEGER NOT NULL,
	action    INTEGER NOT NULL,
	n         INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	started   INTEGER NOT NULL,
	duration  INTEGER NOT NULL,
	outcome   TEXT NOT NULL,
	exit_code INTEGER NOT NULL,
	status    INTEGER NOT NULL,
	output    TEXT NOT NULL,
	truncated INTEGER NOT NULL,
	error     TEXT NOT NULL,
	PRIMARY KEY (delivery, series, action, n)
);

-- The first delivery seen for each (hook, dedup key), until expires.
CREATE TABLE IF NOT EXISTS dedup (
	hook     TEXT NOT NULL,
	key      TEXT NOT NULL,
	delivery TEXT NOT NULL,
	expires  INTEGER NOT NULL,
	PRIMARY KEY (hook, key)
);
CREATE INDEX IF NOT EXISTS dedup_expires ON dedup (expires);

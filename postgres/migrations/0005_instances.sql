-- Instances register themselves (issue 19): one row per process that
-- served from this database, with its heartbeat (database clock, ns);
-- jobs record which instance claimed them. Adding a column with a constant
-- default rewrites no rows.
CREATE TABLE instances (
	id        text COLLATE "C" PRIMARY KEY,
	host      text NOT NULL,
	pid       int4 NOT NULL,
	version   text NOT NULL,
	started   int8 NOT NULL,
	heartbeat int8 NOT NULL,
	stopped   int8 NOT NULL DEFAULT 0
);
ALTER TABLE jobs ADD COLUMN holder text NOT NULL DEFAULT '';

-- Jobs carry their delivery's ordering key (order: per-key), so that a
-- claim can hold back a job while an earlier one with the same key is
-- unfinished.
ALTER TABLE jobs ADD COLUMN key bytea NOT NULL DEFAULT '';
CREATE INDEX jobs_key ON jobs (hook, key, delivery) WHERE key <> '';

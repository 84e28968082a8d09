-- The relay feed (postbox listen) follows deliveries in an order that a
-- late commit cannot break: by the id of the transaction that stored them
-- (xid), then seq, listing only rows whose transaction is older than every
-- one still running (pg_snapshot_xmin), so no row can appear later before
-- a cursor already handed out. Columns added without a default first, so
-- that the rows stored before this step are not rewritten: they have no
-- xid and are not relayed.
ALTER TABLE deliveries ADD COLUMN xid xid8, ADD COLUMN seq int8;
CREATE SEQUENCE deliveries_seq;
ALTER TABLE deliveries ALTER COLUMN xid SET DEFAULT pg_current_xact_id(),
	ALTER COLUMN seq SET DEFAULT nextval('deliveries_seq');
CREATE INDEX deliveries_relay ON deliveries (xid, seq) WHERE xid IS NOT NULL;

-- The listeners each delivery was relayed to, for the console.
CREATE TABLE relays (
	delivery text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	listener text NOT NULL,
	at       int8 NOT NULL,
	PRIMARY KEY (delivery, listener)
);

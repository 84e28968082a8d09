-- The relay feed (postbox listen) follows deliveries in the order their
-- commits made them durable: seq, one more than the highest given, set by
-- the single writer in the transaction that stores the delivery.
-- relay_seq keeps the highest before retention deletes deliveries, so seq
-- never goes back, not even once every delivery is pruned. Deliveries
-- stored before this step have no seq and are not relayed (numbering them
-- would rewrite every row of a large store).
ALTER TABLE deliveries ADD COLUMN seq INTEGER;
CREATE TABLE relay_seq (n INTEGER NOT NULL);
INSERT INTO relay_seq (n) VALUES (0);
CREATE INDEX deliveries_seq ON deliveries (seq) WHERE seq IS NOT NULL;

-- The listeners each delivery was relayed to, for the console.
CREATE TABLE relays (
	delivery TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	listener TEXT NOT NULL,
	at       INTEGER NOT NULL,
	PRIMARY KEY (delivery, listener)
);

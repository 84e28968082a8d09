-- The initial schema. Times are int8 nanoseconds since the Unix epoch, so
-- that a delivery's Received reads back exactly (timestamptz keeps only
-- microseconds). Columns that carry bytes from outside (a request path, an
-- ordering or dedup key, an action's output) are bytea: text rejects NUL
-- and invalid UTF-8, and a delivery is kept exactly as received. Ids
-- collate as "C": they sort bytewise, in the order they were made, whatever
-- the database's collation.
CREATE TABLE deliveries (
	id           text COLLATE "C" PRIMARY KEY,
	hook         text NOT NULL,
	method       text NOT NULL,
	path         bytea NOT NULL,
	query        text NOT NULL,
	header       text NOT NULL,
	body         bytea NOT NULL,
	remote       text NOT NULL,
	received     int8 NOT NULL,
	path_values  text NOT NULL,
	actions      int4 NOT NULL,
	key          bytea NOT NULL,
	state        text NOT NULL,
	dedup_key    bytea NOT NULL,
	duplicate_of text COLLATE "C" NOT NULL,
	series       int4 NOT NULL
);
CREATE INDEX deliveries_hook ON deliveries (hook, id);
CREATE INDEX deliveries_state ON deliveries (state, id);
CREATE INDEX deliveries_received ON deliveries (received);

-- One row per delivery with work left: the action to run next. lease is
-- until when (database clock, ns) a worker holds the job; 0 when free.
CREATE TABLE jobs (
	delivery text COLLATE "C" PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
	hook     text NOT NULL,
	series   int4 NOT NULL,
	action   int4 NOT NULL,
	attempt  int4 NOT NULL,
	due      int8 NOT NULL,
	lease    int8 NOT NULL,
	failed   bool NOT NULL
);
CREATE INDEX jobs_due ON jobs (due, delivery);

CREATE TABLE attempts (
	delivery  text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	series    int4 NOT NULL,
	action    int4 NOT NULL,
	n         int4 NOT NULL,
	kind      text NOT NULL,
	started   int8 NOT NULL,
	duration  int8 NOT NULL,
	outcome   text NOT NULL,
	exit_code int4 NOT NULL,
	status    int4 NOT NULL,
	output    bytea NOT NULL,
	truncated bool NOT NULL,
	error     bytea NOT NULL,
	PRIMARY KEY (delivery, series, action, n)
);

-- The first delivery seen for each (hook, dedup key), until expires
-- (received + window, ns). The primary key makes the first one win when
-- instances append the same key at once.
CREATE TABLE dedup (
	hook     text NOT NULL,
	key      bytea NOT NULL,
	delivery text COLLATE "C" NOT NULL,
	expires  int8 NOT NULL,
	PRIMARY KEY (hook, key)
);
CREATE INDEX dedup_expires ON dedup (expires);

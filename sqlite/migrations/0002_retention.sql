-- Retention deletes settled deliveries (done, failed, dead, duplicate) and
-- never a pending one, which has a job. These indexes hold settled
-- deliveries only, so that a prune never walks past a backlog of pending
-- ones: the oldest of a hook beyond its max_deliveries, and the oldest of
-- the store while it is over max_size. A pending delivery enters them when
-- it settles.
CREATE INDEX deliveries_settled ON deliveries (hook, id) WHERE state <> 'pending';
CREATE INDEX deliveries_settled_received ON deliveries (received) WHERE state <> 'pending';

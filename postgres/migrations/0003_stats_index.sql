-- Hook stats (the console's hooks page, /metrics) count per hook and state
-- from this index instead of reading every delivery.
CREATE INDEX deliveries_stats ON deliveries (hook, state, received);

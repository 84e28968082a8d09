package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox"
)

var _ postbox.Registry = (*DB)(nil)

func (db *DB) holderID() string {
	if p := db.holder.Load(); p != nil {
		return *p
	}
	return ""
}

// Register adds in to the instances, on the database's clock, and makes
// this handle's claims record its id.
func (db *DB) Register(ctx context.Context, in *postbox.Instance) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM instances WHERE (stopped <> 0 AND stopped < `+nowNS+` - $1) OR heartbeat < `+nowNS+` - $1`, int64(postbox.ForgetInstancesAfter))
	var now int64
	b.Queue(`INSERT INTO instances (id, host, pid, version, started, heartbeat, stopped)
		VALUES ($1, $2, $3, $4, `+nowNS+`, `+nowNS+`, 0) RETURNING started`, in.ID, in.Host, in.PID, in.Version).
		QueryRow(func(r pgx.Row) error { return r.Scan(&now) })
	if err := db.send(ctx, b); err != nil {
		return fmt.Errorf("register instance: %w", err)
	}
	in.Started = time.Unix(0, now).UTC()
	in.Heartbeat = in.Started
	id := in.ID
	db.holder.Store(&id)
	return nil
}

// Heartbeat records that instance id is alive.
func (db *DB) Heartbeat(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE instances SET heartbeat = `+nowNS+` WHERE id = $1`, id); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Deregister marks instance id stopped.
func (db *DB) Deregister(ctx context.Context, id string) error {
	if _, err := db.pool.Exec(ctx, `UPDATE instances SET stopped = `+nowNS+`, heartbeat = `+nowNS+` WHERE id = $1`, id); err != nil {
		return fmt.Errorf("deregister instance: %w", err)
	}
	return nil
}

// Instances lists the instances, newest first, with the jobs each holds,
// read in one transaction.
func (db *DB) Instances(ctx context.Context) ([]*postbox.Instance, time.Time, error) {
	var out []*postbox.Instance
	var now int64
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		out = nil
		if err := tx.QueryRow(ctx, `SELECT `+nowNS).Scan(&now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, host, pid, version, started, heartbeat, stopped FROM instances ORDER BY started DESC, id DESC`)
		if err != nil {
			return err
		}
		byID := map[string]*postbox.Instance{}
		var started, heartbeat, stopped int64
		in := &postbox.Instance{}
		_, err = pgx.ForEachRow(rows, []any{&in.ID, &in.Host, &in.PID, &in.Version, &started, &heartbeat, &stopped}, func() error {
			c := *in
			c.Jobs = []postbox.HeldJob{}
			c.Started, c.Heartbeat = time.Unix(0, started).UTC(), time.Unix(0, heartbeat).UTC()
			if stopped != 0 {
				c.Stopped = time.Unix(0, stopped).UTC()
			}
			out = append(out, &c)
			byID[c.ID] = &c
			return nil
		})
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT holder, delivery, hook, action, attempt, lease FROM jobs
			WHERE holder <> '' AND lease > $1 ORDER BY holder, delivery`, now)
		if err != nil {
			return err
		}
		var holder string
		var j postbox.HeldJob
		var until int64
		_, err = pgx.ForEachRow(rows, []any{&holder, &j.Delivery, &j.Hook, &j.Action, &j.Attempt, &until}, func() error {
			if in := byID[holder]; in != nil {
				in.Held++
				if len(in.Jobs) < postbox.MaxListedJobs {
					j.Until = time.Unix(0, until).UTC()
					in.Jobs = append(in.Jobs, j)
				}
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("instances: %w", err)
	}
	at := time.Unix(0, now).UTC()
	for _, in := range out {
		in.State = in.StateAt(at)
	}
	return out, at, nil
}

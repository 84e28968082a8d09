package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/postbox/postbox"
)

var _ postbox.Registry = (*DB)(nil)

func (db *DB) holderID() string {
	if p := db.holder.Load(); p != nil {
		return *p
	}
	return ""
}

// Register adds in to the instances and makes this handle's claims record
// its id.
func (db *DB) Register(ctx context.Context, in *postbox.Instance) error {
	now := db.Now()
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		old := now.Add(-postbox.ForgetInstancesAfter).UnixNano()
		if _, err := tx.ExecContext(ctx, `DELETE FROM instances WHERE (stopped != 0 AND stopped < ?) OR heartbeat < ?`, old, old); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO instances (id, host, pid, version, started, heartbeat, stopped)
			VALUES (?, ?, ?, ?, ?, ?, 0)`, in.ID, in.Host, in.PID, in.Version, now.UnixNano(), now.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("register instance: %w", err)
	}
	in.Started, in.Heartbeat = now.UTC(), now.UTC()
	id := in.ID
	db.holder.Store(&id)
	return nil
}

// Heartbeat records that instance id is alive.
func (db *DB) Heartbeat(ctx context.Context, id string) error {
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE instances SET heartbeat = ? WHERE id = ?`, db.Now().UnixNano(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Deregister marks instance id stopped.
func (db *DB) Deregister(ctx context.Context, id string) error {
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		now := db.Now().UnixNano()
		_, err := tx.ExecContext(ctx, `UPDATE instances SET stopped = ?, heartbeat = ? WHERE id = ?`, now, now, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("deregister instance: %w", err)
	}
	return nil
}

// Instances lists the instances, newest first, with the jobs each holds.
func (db *DB) Instances(ctx context.Context) ([]*postbox.Instance, time.Time, error) {
	now := db.Now()
	rows, err := db.query(ctx, `SELECT id, host, pid, version, started, heartbeat, stopped FROM instances ORDER BY started DESC, id DESC`)
	if err != nil {
		return nil, now, fmt.Errorf("instances: %w", err)
	}
	defer rows.Close()
	var out []*postbox.Instance
	byID := map[string]*postbox.Instance{}
	for rows.Next() {
		in := &postbox.Instance{Jobs: []postbox.HeldJob{}}
		var started, heartbeat, stopped int64
		if err := rows.Scan(&in.ID, &in.Host, &in.PID, &in.Version, &started, &heartbeat, &stopped); err != nil {
			return nil, now, fmt.Errorf("instances: %w", err)
		}
		in.Started, in.Heartbeat = time.Unix(0, started).UTC(), time.Unix(0, heartbeat).UTC()
		if stopped != 0 {
			in.Stopped = time.Unix(0, stopped).UTC()
		}
		out = append(out, in)
		byID[in.ID] = in
	}
	if err := rows.Err(); err != nil {
		return nil, now, fmt.Errorf("instances: %w", err)
	}
	rows.Close()
	jobs, err := db.query(ctx, `SELECT holder, delivery, hook, action, attempt, lease FROM jobs
		WHERE holder != '' AND lease > ? ORDER BY holder, delivery`, now.UnixNano())
	if err != nil {
		return nil, now, fmt.Errorf("instances: held jobs: %w", err)
	}
	defer jobs.Close()
	for jobs.Next() {
		var holder string
		var j postbox.HeldJob
		var until int64
		if err := jobs.Scan(&holder, &j.Delivery, &j.Hook, &j.Action, &j.Attempt, &until); err != nil {
			return nil, now, fmt.Errorf("instances: held jobs: %w", err)
		}
		j.Until = time.Unix(0, until).UTC()
		if in := byID[holder]; in != nil {
			in.Held++
			if len(in.Jobs) < postbox.MaxListedJobs {
				in.Jobs = append(in.Jobs, j)
			}
		}
	}
	if err := jobs.Err(); err != nil {
		return nil, now, fmt.Errorf("instances: held jobs: %w", err)
	}
	for _, in := range out {
		in.State = in.StateAt(now)
	}
	return out, now.UTC(), nil
}

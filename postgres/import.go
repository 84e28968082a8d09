package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
)

// Import stores d exactly as it is, for moving an installation from one
// store to another (postbox store copy): its fields, state, series and
// attempts, where Append would make a new pending delivery. A pending d
// gets a job that resumes its actions where its attempts stopped, due now
// and free to claim (see Delivery.ResumeAt); its lease and retry time in the store
// it came from are not carried over. A d whose id is already stored is an
// ECONFLICT error and changes nothing. Dedup entries are not made here:
// ImportDedup copies them, as postbox store copy does after the deliveries.
func (db *DB) Import(ctx context.Context, d *postbox.Delivery) error {
	row, err := storerow.Of(d)
	if err != nil {
		return fmt.Errorf("import %s: %w", d.ID, err)
	}
	pending := d.State == postbox.StatePending && d.Actions > 0
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO deliveries (id, hook, method, path, query, header, body, remote, received,
			path_values, actions, key, state, dedup_key, duplicate_of, series)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			ON CONFLICT (id) DO NOTHING`,
			d.ID, d.HookID, d.Method, []byte(d.Path), row.Query, row.Header, row.Body, d.RemoteAddr,
			row.Received, row.PathValues, d.Actions, []byte(d.Key), string(d.State),
			[]byte(d.DedupKey), d.DuplicateOf, d.Series)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return postbox.Errorf(postbox.ECONFLICT, "delivery %s already exists", d.ID)
		}
		b := &pgx.Batch{}
		for _, a := range d.Attempts {
			b.Queue(`INSERT INTO attempts
				(delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				d.ID, a.Series, a.Action, a.N, a.Kind, a.Started.UnixNano(), int64(a.Duration), string(a.Outcome),
				a.ExitCode, a.Status, []byte(a.Output), a.Truncated, []byte(a.Error))
		}
		if pending {
			action, attempt, failed := d.ResumeAt()
			b.Queue(`INSERT INTO jobs (delivery, hook, series, action, attempt, due, lease, failed, key)
				VALUES ($1, $2, $3, $4, $5, `+nowNS+`, 0, $6, $7)`, d.ID, d.HookID, d.Series, action, attempt, failed, []byte(d.Key))
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	var e *postbox.Error
	switch {
	case errors.As(err, &e):
		return err
	case err != nil:
		return fmt.Errorf("import %s: %w", d.ID, err)
	}
	if pending {
		db.notifySoon()
	}
	return nil
}

// Migration is what Migrate did to a database's schema.
type Migration struct {
	Applied []string // the steps applied by this call, as 0001_init.sql
	Version int      // the schema's version afterwards
	Latest  int      // the newest version this binary knows
}

// Migrate brings the schema of the database at url up to date as Open
// does (under the same advisory lock, so it is safe while instances run
// or start) and reports what it did, for postbox migrate. Applied is
// empty when the schema was up to date already; Version above Latest
// means a newer postbox migrated the database.
func Migrate(ctx context.Context, url string) (*Migration, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("migrate postgres: invalid connection string")
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	defer pool.Close()
	versions, err := migrate(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("migrate postgres %s: %w", describe(cfg), err)
	}
	steps, err := steps()
	if err != nil {
		return nil, err
	}
	m := &Migration{}
	names := map[int]string{}
	for _, s := range steps {
		names[s.Version] = s.Name
		m.Latest = max(m.Latest, s.Version)
	}
	for _, v := range versions {
		m.Applied = append(m.Applied, names[v])
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&m.Version); err != nil {
		return nil, fmt.Errorf("migrate postgres %s: %w", describe(cfg), err)
	}
	return m, nil
}

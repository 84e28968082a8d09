package postgres

import (
	"context"
	"embed"
	"fmt"
	"github.com/postbox/postbox/internal/migrations"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles holds the schema as numbered steps, NNNN_name.sql. A step,
// once released, is never edited: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// steps returns the embedded steps in version order.
func steps() ([]migrations.Step, error) {
	return migrations.Load(migrationFiles, "migrations/*.sql")
}

// migrate applies the steps that the schema lacks, all in one transaction
// that holds an advisory lock, so that instances starting at once apply
// each step exactly once and none sees a half-made schema. The lock is
// keyed by the current schema: stores in other schemas of the same
// database don't wait for each other.
func migrate(ctx context.Context, pool *pgxpool.Pool) (applied []int, err error) {
	steps, err := steps()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('postbox migrate ' || coalesce(current_schema(), '')))`); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    int4 PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range have {
			done[int(v)] = true
		}
		for _, m := range steps {
			if done[m.Version] {
				continue
			}
			// The simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}

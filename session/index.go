package session

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

const indexSchema = `
CREATE TABLE IF NOT EXISTS sessions (
	id          TEXT PRIMARY KEY,
	protocol    TEXT NOT NULL,
	target      TEXT NOT NULL,
	identity    TEXT NOT NULL,
	groups_json TEXT NOT NULL DEFAULT '[]',
	auth_method TEXT NOT NULL DEFAULT '',
	credential_id TEXT NOT NULL DEFAULT '',
	client_addr TEXT NOT NULL DEFAULT '',
	database    TEXT NOT NULL DEFAULT '',
	tags_json   TEXT NOT NULL DEFAULT '{}',
	start_ns    INTEGER NOT NULL,
	end_ns      INTEGER NOT NULL DEFAULT 0,
	status      TEXT NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	queries     INTEGER NOT NULL DEFAULT 0,
	files_json  TEXT NOT NULL DEFAULT '[]',
	seal        TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_start    ON sessions(start_ns DESC);
CREATE INDEX IF NOT EXISTS sessions_target   ON sessions(target, start_ns DESC);
CREATE INDEX IF NOT EXISTS sessions_identity ON sessions(identity, start_ns DESC);
CREATE INDEX IF NOT EXISTS sessions_protocol ON sessions(protocol, start_ns DESC);
CREATE INDEX IF NOT EXISTS sessions_status   ON sessions(status, start_ns DESC);
`

// laterIndexes index added columns; created once the columns exist.
const laterIndexes = `
CREATE INDEX IF NOT EXISTS sessions_credential ON sessions(credential_id, start_ns DESC);
`

// addedColumns are the columns added to the sessions table after its first
// release, with their definitions: opening an index created before adds
// them (ALTER TABLE), and a read-only open of such an index reads them as ”.
var addedColumns = []struct{ name, def string }{
	{"credential_id", "TEXT NOT NULL DEFAULT ''"},
}

// index is the SQLite session index: one writer connection, a small pool of
// readers (WAL lets them read while the writer writes).
type index struct {
	w *sql.DB // nil when read-only
	r *sql.DB
	// columns is what get and list select: selectColumns, with ''
	// for an added column a read-only open found missing.
	columns string
	// noCredentialID: a read-only open of an index from before
	// credential_id; no session in it has one.
	noCredentialID bool
}

func indexDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	if readOnly {
		q.Add("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	return "file:" + path + "?" + q.Encode()
}

func openIndex(ctx context.Context, path string, readOnly bool) (*index, error) {
	ix := &index{}
	if !readOnly {
		w, err := sql.Open("sqlite", indexDSN(path, false))
		if err != nil {
			return nil, fmt.Errorf("open index %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		if _, err := w.ExecContext(ctx, indexSchema); err != nil {
			w.Close()
			return nil, fmt.Errorf("create index %s: %w", path, err)
		}
		if err := addMissingColumns(ctx, w); err != nil {
			w.Close()
			return nil, fmt.Errorf("upgrade index %s: %w", path, err)
		}
		if _, err := w.ExecContext(ctx, laterIndexes); err != nil {
			w.Close()
			return nil, fmt.Errorf("upgrade index %s: %w", path, err)
		}
		ix.w = w
	}
	r, err := sql.Open("sqlite", indexDSN(path, true))
	if err != nil {
		ix.close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		ix.close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	ix.r = r
	have, err := sessionColumns(ctx, r)
	if err != nil {
		ix.close()
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	ix.columns = selectColumns
	for _, c := range addedColumns {
		if !have[c.name] {
			ix.columns = strings.Replace(ix.columns, c.name, "'' AS "+c.name, 1)
		}
	}
	ix.noCredentialID = !have["credential_id"]
	return ix, nil
}

// sessionColumns are the names of the sessions table's columns.
func sessionColumns(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('sessions')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}

// addMissingColumns brings a sessions table created by an older release up
// to indexSchema.
func addMissingColumns(ctx context.Context, w *sql.DB) error {
	have, err := sessionColumns(ctx, w)
	if err != nil {
		return err
	}
	for _, c := range addedColumns {
		if have[c.name] {
			continue
		}
		if _, err := w.ExecContext(ctx, `ALTER TABLE sessions ADD COLUMN `+c.name+` `+c.def); err != nil {
			return fmt.Errorf("add column %s: %w", c.name, err)
		}
	}
	return nil
}

func (ix *index) close() error {
	var errs []error
	if ix.r != nil {
		errs = append(errs, ix.r.Close())
	}
	if ix.w != nil {
		errs = append(errs, ix.w.Close())
	}
	return errors.Join(errs...)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null" // maps of strings and string slices always encode
	}
	return string(b)
}

func (ix *index) insert(ctx context.Context, r *Record) error {
	groups := r.Groups
	if groups == nil {
		groups = []string{}
	}
	_, err := ix.w.ExecContext(ctx, `INSERT INTO sessions
		(id, protocol, target, identity, groups_json, auth_method, credential_id, client_addr, database, tags_json, start_ns, status, files_json)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Protocol, r.Target, r.Identity, mustJSON(groups), r.AuthMethod, r.CredentialID, r.ClientAddr, r.Database,
		mustJSON(r.Tags), r.Start.UnixNano(), string(r.Status), mustJSON(r.Files))
	if err != nil {
		return fmt.Errorf("index insert %s: %w", r.ID, err)
	}
	return nil
}

func (ix *index) setFiles(ctx context.Context, id string, files []string) error {
	_, err := ix.w.ExecContext(ctx, `UPDATE sessions SET files_json=? WHERE id=?`, mustJSON(files), id)
	if err != nil {
		return fmt.Errorf("index update files %s: %w", id, err)
	}
	return nil
}

func (ix *index) finish(ctx context.Context, r *Record, seal string) error {
	_, err := ix.w.ExecContext(ctx, `UPDATE sessions SET end_ns=?, status=?, error=?, queries=?, files_json=?, tags_json=?, seal=? WHERE id=?`,
		r.End.UnixNano(), string(r.Status), r.Error, r.Queries, mustJSON(r.Files), mustJSON(r.Tags), seal, r.ID)
	if err != nil {
		return fmt.Errorf("index close %s: %w", r.ID, err)
	}
	return nil
}

const selectColumns = `id, protocol, target, identity, groups_json, auth_method, credential_id, client_addr, database, tags_json, start_ns, end_ns, status, error, queries, files_json, seal`

func scanRecord(sc interface{ Scan(...any) error }) (Record, string, error) {
	var (
		r                   Record
		groups, tags, files string
		startNS, endNS      int64
		status, seal        string
	)
	if err := sc.Scan(&r.ID, &r.Protocol, &r.Target, &r.Identity, &groups, &r.AuthMethod, &r.CredentialID, &r.ClientAddr, &r.Database,
		&tags, &startNS, &endNS, &status, &r.Error, &r.Queries, &files, &seal); err != nil {
		return Record{}, "", err
	}
	r.Status = Status(status)
	r.Start = time.Unix(0, startNS).UTC()
	if endNS != 0 {
		r.End = time.Unix(0, endNS).UTC()
	}
	// The index is ours; a row that does not decode keeps its other fields.
	_ = json.Unmarshal([]byte(groups), &r.Groups)
	_ = json.Unmarshal([]byte(tags), &r.Tags)
	_ = json.Unmarshal([]byte(files), &r.Files)
	if len(r.Groups) == 0 {
		r.Groups = nil
	}
	return r, seal, nil
}

func (ix *index) get(ctx context.Context, id string) (Record, string, error) {
	row := ix.r.QueryRowContext(ctx, `SELECT `+ix.columns+` FROM sessions WHERE id=?`, id)
	r, seal, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, "", ErrNotFound
	}
	if err != nil {
		return Record{}, "", fmt.Errorf("index get %s: %w", id, err)
	}
	return r, seal, nil
}

func (ix *index) list(ctx context.Context, f Filter) ([]Record, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if f.Identity != "" {
		add("identity = ?", f.Identity)
	}
	if f.Protocol != "" {
		add("protocol = ?", f.Protocol)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.CredentialID != "" {
		if ix.noCredentialID {
			where = append(where, "0") // the column's value would be '' everywhere
		} else {
			add("credential_id = ?", f.CredentialID)
		}
	}
	if !f.Since.IsZero() {
		add("start_ns >= ?", f.Since.UnixNano())
	}
	q := `SELECT ` + ix.columns + ` FROM sessions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY start_ns DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := ix.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("index list: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		r, _, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("index list: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("index list: %w", err)
	}
	return out, nil
}

// abandonedError is the index text of a session whose gateway stopped first.
const abandonedError = "gateway stopped before the session ended"

func (ix *index) markAbandoned(ctx context.Context) error {
	_, err := ix.w.ExecContext(ctx, `UPDATE sessions SET status=?, error=? WHERE status=?`,
		string(StatusFailed), abandonedError, string(StatusActive))
	if err != nil {
		return fmt.Errorf("index recovery: %w", err)
	}
	return nil
}

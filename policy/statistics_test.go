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

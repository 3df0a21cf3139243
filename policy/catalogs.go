package policy

import "github.com/pingcap/tidb/pkg/parser/ast"

// Catalogs that hold column values the masks do not see.
//
// Statistics catalogs keep samples of every column's values for the
// planner: Postgres pg_stats.most_common_vals and histogram_bounds (and the
// extended statistics behind pg_stats_ext), MariaDB mysql.column_stats'
// min_value, max_value and histogram, MySQL 8's column histograms. A client
// allowed to read them reads masked columns' values without naming the
// columns, so under a policy with column masks every column of such a
// catalog is data of unknown origin: redacted in results, refused with
// `lineage: block`.

var pgStatisticsCatalogs = map[string]bool{
	"pg_stats": true, "pg_stats_ext": true, "pg_stats_ext_exprs": true,
	"pg_statistic": true, "pg_statistic_ext_data": true,
}

var myStatisticsCatalogs = map[tableRef]bool{
	{schema: "mysql", name: "column_stats"}:                   true,
	{schema: "information_schema", name: "column_statistics"}: true,
}

// statisticsRelation returns the relation standing for a statistics
// catalog, or false when t is not one (or nothing is masked). mysql says
// t was resolved with MySQL's rules (schema "" = any database).
func (l *lineage) statisticsRelation(t tableRef, alias string, mysql bool) (relation, bool) {
	if len(l.rules) == 0 {
		return relation{}, false
	}
	stats := false
	if mysql {
		for c := range myStatisticsCatalogs {
			stats = stats || (c.name == t.name && (t.schema == "" || t.schema == c.schema))
		}
	} else {
		stats = pgStatisticsCatalogs[t.name] && (t.schema == "" || t.schema == "pg_catalog")
		// A TOAST table holds the long values of its table's columns.
		stats = stats || t.schema == "pg_toast"
	}
	if !stats {
		return relation{}, false
	}
	return relation{alias: alias, fn: true, extra: taint{unknown: true, src: "statistics catalog " + t.String()}}, true
}

// Statement texts: the server shows each session's current (and recent)
// statement, literals included, to sessions of the same account - a value
// another session is writing (INSERT INTO users (email) VALUES ('...')) is
// readable there. Under a policy with column masks, those text columns are
// masked like a masked column: redacted in results, laundering when
// copied, a probe under masked_filters.
var statementTextColumns = []string{
	"pg_stat_activity.query", "pg_stat_statements.query",
	"processlist.info", "threads.processlist_info",
	"events_statements_current.sql_text", "events_statements_history.sql_text",
	"events_statements_history_long.sql_text", "events_statements_summary_by_digest.query_sample_text",
	"processlist.current_statement", "processlist.last_statement", // sys schema
	"session.current_statement", "session.last_statement",
	"prepared_statements_instances.sql_text", "innodb_trx.trx_query",
	"general_log.argument", "slow_log.sql_text", // mysql schema, log_output=TABLE
	// Not a text, but the same exposure: every session's user variables.
	"user_variables_by_thread.variable_value",
}

// statementTextRules are the implicit column masks for statementTextColumns.
func statementTextRules() []colRule {
	rules := make([]colRule, 0, len(statementTextColumns))
	for _, c := range statementTextColumns {
		cr, err := parseColRule(c, redactMethod)
		if err != nil {
			panic("policy: bad built-in column " + c) // a literal above
		}
		cr.implicit = true
		rules = append(rules, cr)
	}
	return rules
}

// myShowPlan is the output plan of a MySQL SHOW statement whose rows carry
// statement texts: SHOW [FULL] PROCESSLIST is the processlist table.
func (l *lineage) myShowPlan(s *ast.ShowStmt) *outPlan {
	if len(l.rules) == 0 || s.Tp != ast.ShowProcessList {
		return nil
	}
	return &outPlan{cols: []outCol{{star: &starRef{tables: []tableRef{{name: "processlist"}}}}}}
}

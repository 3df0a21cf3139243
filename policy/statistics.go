package policy

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
	}
	if !stats {
		return relation{}, false
	}
	return relation{alias: alias, fn: true, extra: taint{unknown: true, src: "statistics catalog " + t.String()}}, true
}

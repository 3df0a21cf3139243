// Package policy decides what a session may do: rules (allow, block, review),
// column masks and content detectors, and the approval broker. It is
// protocol-neutral and pure: engines call it, it never calls engines.
//
// API CONTRACT (engines rely on it; keep signatures stable):
//
//	set, err := policy.NewSet(cfg)        // compile every named policy
//	p := set.For(targetName)              // nil *Policy = allow everything, mask nothing
//	d := p.CheckSQL(policy.Postgres, sub, sqlText)
//	d.Action / d.Rule / d.Message / d.Mask
//	rm := d.Mask.Columns(fields)          // nil = nothing to mask for these columns
//	masked := rm.MaskRow(values)          // values replaced in place; returns names of masked columns
//	line, masked := rm.MaskCopyText(line) // COPY ... TO STDOUT text rows (fields without names)
//	d.Statements                          // what each statement is (kind, tables, functions), for the record
//
// Verdicts: every statement of a text is judged (first matching rule, else
// the policy default); the strictest wins (block > review > allow). Rule
// names "unparseable" and "lineage" are the policy's own: a statement the
// parser rejects, and a statement whose masked data cannot be followed
// (rows of unknown origin with lineage: block, or a write that copies masked
// values where the masks do not apply).
package policy

// Dialect is the SQL dialect of a statement.
type Dialect uint8

// SQL dialects.
const (
	Postgres Dialect = iota
	MySQL
)

// Action is what a decision does with a statement or command.
type Action uint8

// Actions.
const (
	Allow Action = iota
	Block
	Review
)

func (a Action) String() string {
	switch a {
	case Block:
		return "block"
	case Review:
		return "review"
	default:
		return "allow"
	}
}

// Subject is who is acting, where.
type Subject struct {
	Target   string
	Protocol string
	Identity string
	Groups   []string
	Session  string
	// Views is the database's view definitions when the engine knows them;
	// lineage then follows a view to its masked sources.
	Views *Views
	// Database is the session's current database (MySQL: the schema
	// unqualified names resolve against, as USE or COM_INIT_DB last set
	// it). "" = none or unknown: an unqualified name may then be in any
	// schema, and masks and views are matched as such (fail closed).
	Database string
}

// Decision is the verdict on one client unit (a Query message, a Parse, a
// shell command line). Decisions are data: engines record them as they are.
type Decision struct {
	Action Action
	// Rule is the name of the rule that decided ("" when the default did).
	Rule string
	// Message is the user-facing reason, safe to show the client.
	Message string
	// Mask is how to mask this statement's results; nil = nothing to mask.
	Mask *ResultMask
	// Errors is what this statement's error and notice texts may not show
	// (values read from masked columns, detector hits); nil = nothing.
	Errors *ErrorMask
	// Statements is what each statement of the text is, in order (for the
	// record). Shared with the decision cache (texts that differ only in
	// literals share it): read it, never modify it.
	Statements []StatementInfo
}

// StatementInfo is what one SQL statement is, from a real parse.
type StatementInfo struct {
	// Kind is the statement's own kind (select, insert, drop, ...);
	// "unparseable" when the parser rejected it.
	Kind string `json:"kind"`
	// Also holds further kinds the statement performs (a DELETE inside a
	// CTE, EXPLAIN ANALYZE's statement, PREPARE's body, INTO OUTFILE).
	Also []string `json:"also,omitempty"`
	// WithoutWhere is true for an UPDATE or DELETE (anywhere inside) that has no WHERE.
	WithoutWhere bool `json:"without_where,omitempty"`
	// Tables are the relations named, lower-case, schema-qualified when written so.
	Tables []string `json:"tables,omitempty"`
	// Functions are the functions called anywhere, lower-case, qualified when written so.
	Functions []string `json:"functions,omitempty"`
	// CopyProgram is COPY ... PROGRAM (a shell command on the database server).
	CopyProgram bool `json:"copy_program,omitempty"`
	// Database is the database a USE statement switches to, as written.
	Database string `json:"database,omitempty"`
	// Diagnostics is MySQL's SHOW WARNINGS / SHOW ERRORS: its rows are the
	// previous statement's messages, which may quote that statement's data.
	Diagnostics bool `json:"diagnostics,omitempty"`
	// Alternate marks a second reading of the same text under session
	// settings the gateway cannot see (standard_conforming_strings=off,
	// sql_mode ANSI_QUOTES / NO_BACKSLASH_ESCAPES); it is judged too.
	Alternate bool `json:"alternate,omitempty"`
}

// TypeClass is a protocol-neutral class of a column's type, enough to mask
// type-correctly.
type TypeClass uint8

// Type classes.
const (
	TypeText TypeClass = iota
	TypeInt
	TypeFloat
	TypeNumeric
	TypeBool
	TypeTime
	TypeBytes
	TypeJSON
	TypeOther
)

// Field describes one result column as the engine sees it.
type Field struct {
	Name   string
	Type   TypeClass
	Size   int16 // binary width for fixed-size types (2, 4, 8), or -1
	Binary bool  // value is in the protocol's binary format
}

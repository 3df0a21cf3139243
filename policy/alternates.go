package policy

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// The same bytes can mean different statements under different session
// settings: Postgres with standard_conforming_strings=off reads backslashes
// in '...' as escapes; MySQL with ANSI_QUOTES reads "x" as an identifier and
// with NO_BACKSLASH_ESCAPES reads '\' literally. The policy cannot see the
// session's settings, so a text whose meaning could change is judged under
// every reading that parses, and the strictest verdict wins. A reading that
// does not parse is dropped: a server in that mode rejects the text too.

// pgAlternates returns the readings of sql other than the default one.
func pgAlternates(sql string, lin *lineage) []parsedStmt {
	if !strings.Contains(sql, `\`) {
		return nil
	}
	alt, changed := pgEscapeStringsRewrite(sql)
	if !changed {
		return nil
	}
	ps, err := classifyPG(alt, lin)
	if err != nil {
		return nil
	}
	return markAlternate(ps)
}

// mysqlAlternates returns the readings of sql under other sql_modes.
func mysqlAlternates(sql string, lin *lineage) []parsedStmt {
	var modes []mysql.SQLMode
	if strings.Contains(sql, `"`) {
		modes = append(modes, mysql.ModeANSIQuotes)
	}
	if strings.Contains(sql, `\`) {
		modes = append(modes, mysql.ModeNoBackslashEscapes)
		if len(modes) == 2 {
			modes = append(modes, mysql.ModeANSIQuotes|mysql.ModeNoBackslashEscapes)
		}
	}
	var out []parsedStmt
	for _, m := range modes {
		ps, err := classifyMySQLMode(sql, m, lin)
		if err == nil {
			out = append(out, markAlternate(ps)...)
		}
	}
	return out
}

func markAlternate(ps []parsedStmt) []parsedStmt {
	for i := range ps {
		ps[i].info.Alternate = true
	}
	return ps
}

// pgEscapeStringsRewrite turns every plain '...' literal that holds a
// backslash into E'...', which is how a server with
// standard_conforming_strings=off reads it. String ends are found with that
// server's rules (backslash escapes), so the statement boundaries are the
// ones that server would see.
func pgEscapeStringsRewrite(sql string) (string, bool) {
	var b strings.Builder
	changed := false
	i, n := 0, len(sql)
	for i < n {
		c := sql[i]
		switch {
		case c == '-' && i+1 < n && sql[i+1] == '-':
			end := i
			for end < n && sql[end] != '\n' {
				end++
			}
			b.WriteString(sql[i:end])
			i = end
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end, ok := skipBlockComment(sql, i, true)
			if !ok {
				end = n
			}
			b.WriteString(sql[i:end])
			i = end
		case c == '"':
			end := i + 1
			for end < n && sql[end] != '"' {
				end++
			}
			if end < n {
				end++
			}
			b.WriteString(sql[i:end])
			i = end
		case c == '$' && i+1 < n && !isDigit(sql[i+1]):
			tagEnd := i + 1
			for tagEnd < n && isIdentChar(sql[tagEnd]) {
				tagEnd++
			}
			if tagEnd < n && sql[tagEnd] == '$' {
				tag := sql[i : tagEnd+1]
				end := n
				if k := indexFrom(sql, tag, tagEnd+1); k >= 0 {
					end = k + len(tag)
				}
				b.WriteString(sql[i:end])
				i = end
				continue
			}
			b.WriteByte(c)
			i++
		case c == '\'':
			end, ok := skipString(sql, i, '\'', true)
			if !ok {
				end = n
			}
			lit := sql[i:end]
			prefixed := i > 0 && isIdentChar(sql[i-1]) // E'', B'', X'', U&'' keep their meaning
			if !prefixed && strings.Contains(lit, `\`) {
				b.WriteByte('E')
				changed = true
			}
			b.WriteString(lit)
			i = end
		case isIdentStart(c):
			end := i + 1
			for end < n && (isIdentChar(sql[end]) || sql[end] == '$') {
				end++
			}
			b.WriteString(sql[i:end])
			i = end
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), changed
}

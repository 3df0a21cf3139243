package mysql

// mentionsKill reports whether a KILL keyword appears anywhere the server
// would execute it: at the start or after a `;` (multi-statements), after
// comments, and inside executable comments (`/*! ... */`, `/*M! ... */`,
// which MySQL and MariaDB run). Text inside string literals, quoted
// identifiers and ordinary comments is skipped.
//
// It is a lexical scan, not a parser: its one job is to make sure no KILL
// reaches the upstream unmapped. The gateway's upstream account owns every
// gateway connection's thread, so an upstream thread id killed directly
// could be another identity's session. A false positive (an unquoted
// identifier spelled kill) is refused with a clear message.
//
// Whether a backslash escapes a quote depends on sql_mode
// (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), which the gateway cannot see: the
// text is scanned under both readings, so a literal cannot end in one
// reading and hide a KILL in the other.
func mentionsKill(sql string) bool {
	return scanForKill(sql, true) || scanForKill(sql, false)
}

func scanForKill(sql string, backslashEscapes bool) bool {
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(sql, i, backslashEscapes)
		case c == '#':
			i = skipLine(sql, i)
		case c == '-' && i+2 < len(sql) && sql[i+1] == '-' && isSpaceByte(sql[i+2]),
			c == '-' && i+2 == len(sql) && sql[i+1] == '-':
			i = skipLine(sql, i)
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			if i+2 < len(sql) && (sql[i+2] == '!' || (sql[i+2] == 'M' && i+3 < len(sql) && sql[i+3] == '!')) {
				// Executable comment: its body is code. Step over the
				// marker (and version digits) and keep scanning; the
				// closing */ is skipped as punctuation below.
				i += 3
				if sql[i-1] == 'M' {
					i++
				}
				for i < len(sql) && sql[i] >= '0' && sql[i] <= '9' {
					i++
				}
				continue
			}
			i = skipBlockComment(sql, i)
		case isIdentByte(c):
			j := i
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			if j-i == 4 && equalFoldASCII(sql[i:j], "kill") {
				return true
			}
			i = j
		default:
			i++
		}
	}
	return false
}

// skipQuoted returns the index after the literal or quoted identifier
// starting at i. A doubled quote is an escaped quote in all three forms;
// with backslashEscapes a backslash escapes the next byte inside '...'
// and "...".
func skipQuoted(sql string, i int, backslashEscapes bool) int {
	q := sql[i]
	i++
	for i < len(sql) {
		switch c := sql[i]; {
		case backslashEscapes && c == '\\' && q != '`':
			i += 2
		case c == q:
			if i+1 < len(sql) && sql[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		default:
			i++
		}
	}
	return len(sql)
}

func skipLine(sql string, i int) int {
	for i < len(sql) && sql[i] != '\n' {
		i++
	}
	return i
}

func skipBlockComment(sql string, i int) int {
	for j := i + 2; j+1 < len(sql); j++ {
		if sql[j] == '*' && sql[j+1] == '/' {
			return j + 2
		}
	}
	return len(sql)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

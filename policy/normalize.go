package policy

// normalizeKey appends to dst a cache key for sql in which every numeric and
// string literal is replaced by '?'. Two texts with the same key differ only
// in literal values, whitespace and (Postgres) comments, so a decision that
// does not depend on literal values can be shared between them.
//
// It returns ok=false when it is not sure it lexed the text the way the
// server will: an unterminated string, comment or dollar quote, or a
// backslash inside a string (its meaning depends on
// standard_conforming_strings / sql_mode). The caller then skips the
// normalized cache.
func normalizeKey(dst []byte, sql string, d Dialect) ([]byte, bool) {
	space := false
	emit := func(s string) {
		if space && len(dst) > 0 {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, s...)
	}
	i, n := 0, len(sql)
	for i < n {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			space = true
			i++
		case c == '-' && i+1 < n && sql[i+1] == '-' && (d == Postgres || i+2 >= n || isMySQLDashSpace(sql[i+2])):
			end := i
			for end < n && sql[end] != '\n' {
				end++
			}
			if d == MySQL {
				// MySQL comments stay verbatim: never lose text whose
				// meaning we might have misjudged. The line break that
				// ends one stays too: as a space, "# c\nDROP ..." would
				// share its key with the comment-only "# c DROP ...".
				emit(sql[i:end])
				dst = append(dst, '\n')
				space = false
			} else {
				space = true
			}
			i = end
		case c == '#' && d == MySQL:
			end := i
			for end < n && sql[end] != '\n' {
				end++
			}
			emit(sql[i:end])
			dst = append(dst, '\n') // see "--" above
			space = false
			i = end
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end, ok := skipBlockComment(sql, i, d == Postgres)
			if !ok {
				return dst, false
			}
			if d == MySQL {
				// /*! ... */ is code in MySQL; keep every comment as is.
				emit(sql[i:end])
			}
			space = true
			i = end
		case c == '\'' || (c == '"' && d == MySQL):
			end, ok := skipString(sql, i, c, d == Postgres && prevIsE(sql, i))
			if !ok {
				return dst, false
			}
			if d == MySQL && c == '"' {
				// "x" is a string or, under ANSI_QUOTES, an identifier: keep it.
				emit(sql[i:end])
			} else {
				emit("?")
			}
			i = end
		case c == '"' || c == '`':
			end := i + 1
			for {
				for end < n && sql[end] != c {
					end++
				}
				if end >= n {
					return dst, false
				}
				if end+1 < n && sql[end+1] == c {
					end += 2
					continue
				}
				break
			}
			emit(sql[i : end+1])
			i = end + 1
		case c == '$' && d == Postgres:
			if i+1 < n && isDigit(sql[i+1]) { // $1 parameter
				end := i + 1
				for end < n && isDigit(sql[end]) {
					end++
				}
				emit(sql[i:end])
				i = end
				continue
			}
			tagEnd := i + 1
			for tagEnd < n && isIdentChar(sql[tagEnd]) {
				tagEnd++
			}
			if tagEnd < n && sql[tagEnd] == '$' {
				tag := sql[i : tagEnd+1]
				body := tagEnd + 1
				k := indexFrom(sql, tag, body)
				if k < 0 {
					return dst, false
				}
				emit("?")
				i = k + len(tag)
				continue
			}
			emit(sql[i : i+1])
			i++
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(sql[i+1])):
			end := skipNumber(sql, i)
			emit("?")
			i = end
		case isIdentStart(c):
			end := i + 1
			for end < n && (isIdentChar(sql[end]) || (d == Postgres && sql[end] == '$')) {
				end++
			}
			emit(sql[i:end])
			i = end
		default:
			emit(sql[i : i+1])
			i++
		}
	}
	return dst, true
}

func isMySQLDashSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isIdentStart(c byte) bool { return isUpper(c) || isLower(c) || c == '_' || c >= 0x80 }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// prevIsE reports an E'...' escape string: the quote follows a lone E.
func prevIsE(sql string, i int) bool {
	if i == 0 || (sql[i-1] != 'e' && sql[i-1] != 'E') {
		return false
	}
	return i == 1 || !isIdentChar(sql[i-2])
}

// skipString returns the index after a quoted literal starting at i.
// Doubled quotes escape. In an E-string (E'...') a backslash escapes the next byte;
// anywhere else a backslash makes the end uncertain (standard_conforming_strings,
// NO_BACKSLASH_ESCAPES decide), so the caller gives up.
func skipString(sql string, i int, q byte, escapeString bool) (int, bool) {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			if !escapeString {
				return 0, false
			}
			j++
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

// skipBlockComment returns the index after a /* */ comment at i; Postgres
// comments nest.
func skipBlockComment(sql string, i int, nest bool) (int, bool) {
	depth := 0
	for j := i; j+1 < len(sql); j++ {
		if sql[j] == '/' && sql[j+1] == '*' {
			if depth > 0 && !nest {
				j++
				continue
			}
			depth++
			j++
			continue
		}
		if sql[j] == '*' && sql[j+1] == '/' {
			depth--
			j++
			if depth == 0 {
				return j + 1, true
			}
		}
	}
	return 0, false
}

// skipNumber returns the index after a numeric literal (decimal, exponent,
// 0x/0o/0b, underscores); trailing letters stay a separate token.
func skipNumber(sql string, i int) int {
	n := len(sql)
	j := i
	if sql[j] == '0' && j+1 < n && (sql[j+1]|0x20 == 'x' || sql[j+1]|0x20 == 'o' || sql[j+1]|0x20 == 'b') {
		j += 2
		for j < n && (isAlnum(sql[j]) || sql[j] == '_') {
			j++
		}
		return j
	}
	for j < n && (isDigit(sql[j]) || sql[j] == '_') {
		j++
	}
	if j < n && sql[j] == '.' && !(j+1 < n && sql[j+1] == '.') {
		j++
		for j < n && (isDigit(sql[j]) || sql[j] == '_') {
			j++
		}
	}
	if j < n && (sql[j] == 'e' || sql[j] == 'E') {
		k := j + 1
		if k < n && (sql[k] == '+' || sql[k] == '-') {
			k++
		}
		if k < n && isDigit(sql[k]) {
			for k < n && isDigit(sql[k]) {
				k++
			}
			j = k
		}
	}
	return j
}

func indexFrom(s, sub string, from int) int {
	for k := from; k+len(sub) <= len(s); k++ {
		if s[k:k+len(sub)] == sub {
			return k
		}
	}
	return -1
}

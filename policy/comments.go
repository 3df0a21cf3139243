package policy

import "strings"

// stripComments removes the SQL comments of a routine body, so that its
// identifiers are what it runs, not what its comments say ("-- reads no
// users" named a masked table). Quoted text is kept whole: a string may be
// SQL that the routine runs. MySQL's /*! ... */ is run by the server, not
// ignored, and is kept too.
//
// When the scanner misreads where a string ends, text can only move
// between "quoted" and "code", both kept; what is dropped is what it reads
// as a comment from outside any quote.
func stripComments(s string, d Dialect) string {
	if !strings.Contains(s, "--") && !strings.Contains(s, "/*") && (d != MySQL || !strings.Contains(s, "#")) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			// MySQL strings take backslash escapes; Postgres E'' strings do.
			escapes := c != '`' && (d == MySQL || (c == '\'' && prevIsE(s, i)))
			j := endOfQuoted(s, i, c, escapes)
			b.WriteString(s[i:j])
			i = j
		case c == '$' && d != MySQL && dollarTag(s[i:]) != "":
			tag := dollarTag(s[i:])
			end := strings.Index(s[i+len(tag):], tag)
			j := len(s)
			if end >= 0 {
				j = i + len(tag) + end + len(tag)
			}
			b.WriteString(s[i:j])
			i = j
		case c == '-' && strings.HasPrefix(s[i:], "--") && (d != MySQL || i+2 == len(s) || s[i+2] <= ' '),
			c == '#' && d == MySQL:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			b.WriteByte(' ')
		case c == '/' && strings.HasPrefix(s[i:], "/*") && !(d == MySQL && strings.HasPrefix(s[i:], "/*!")):
			end, ok := skipBlockComment(s, i, d != MySQL)
			if !ok {
				end = len(s) // unterminated: the rest is comment
			}
			i = end
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// endOfQuoted is the index after the quote that closes the one at i (a
// doubled quote is part of the text; so is an escaped one when escapes).
// Unterminated: the rest of s. Unlike normalize's skipString it never
// gives up: a backslash is literal unless escapes says otherwise.
func endOfQuoted(s string, i int, q byte, escapes bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case escapes && s[j] == '\\':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// dollarTag is the $tag$ opening a Postgres dollar-quoted string at the
// start of s, or "" ($1 is a parameter, not a tag).
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1]
		case isIdentStart(c) || (j > 1 && isDigit(c)):
		default:
			return ""
		}
	}
	return ""
}

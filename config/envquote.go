package config

import "strings"

// A bare reference is written as a whole plain value: `token: ${TOKEN}` or,
// in a flow mapping, `{password: ${PW}}`. YAML cannot parse the second one
// (`{` and `}` are flow indicators), and the first resolves to a string even
// when the variable holds a number. So before parsing, each bare reference is
// wrapped in double quotes (same line and column, so error positions hold),
// and its position is remembered: after expansion such a value is re-typed
// from what the variable holds (`port: ${PORT}` becomes an int).

type position struct{ line, col int }

// quoteBareRefs returns data with bare ${NAME} / ${NAME:-default} values
// quoted, and the positions of the quotes it added (1-based, as yaml.Node).
func quoteBareRefs(data []byte) ([]byte, map[position]bool) {
	lines := strings.Split(string(data), "\n")
	quoted := map[position]bool{}
	for li, line := range lines {
		var b strings.Builder
		inSingle, inDouble := false, false
		changed := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case inDouble:
				if c == '\\' && i+1 < len(line) {
					b.WriteByte(c)
					i++
					c = line[i]
				} else if c == '"' {
					inDouble = false
				}
			case inSingle:
				if c == '\'' {
					inSingle = false
				}
			case c == '"':
				inDouble = true
			case c == '\'':
				inSingle = true
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				b.WriteString(line[i:])
				i = len(line)
				continue
			case c == '$' && strings.HasPrefix(line[i:], "${") && bareStart(line, i):
				end := strings.IndexByte(line[i:], '}')
				if end > 0 && bareEnd(line, i+end+1) && envRef.MatchString(line[i:i+end+1]) {
					quoted[position{li + 1, b.Len() + 1}] = true
					b.WriteByte('"')
					b.WriteString(line[i : i+end+1])
					b.WriteByte('"')
					i += end
					changed = true
					continue
				}
			}
			b.WriteByte(c)
		}
		if changed {
			lines[li] = b.String()
		}
	}
	return []byte(strings.Join(lines, "\n")), quoted
}

// bareStart: the reference begins a value (after "key: ", "- ", "[" or ",").
func bareStart(line string, i int) bool {
	j := i - 1
	for j >= 0 && (line[j] == ' ' || line[j] == '\t') {
		j--
	}
	if j < 0 {
		return true
	}
	switch line[j] {
	case ':', '-', '[', ',', '{':
		return j < i-1 || line[j] == '[' || line[j] == ',' || line[j] == '{'
	}
	return false
}

// bareEnd: the reference ends the value.
func bareEnd(line string, k int) bool {
	if k >= len(line) {
		return true
	}
	switch line[k] {
	case ' ', '\t', ',', ']', '}', '\r':
		return true
	}
	return false
}

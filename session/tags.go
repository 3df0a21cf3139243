package session

import (
	"net/url"
	"strings"
)

// maxTags bounds what one statement's comment can add to the record.
const maxTags = 32

// SQLCommenterTags extracts sqlcommenter tags from the last comment of a
// statement: /* key='value',route='%2Fusers' */. Values are URL-decoded as
// the sqlcommenter spec writes them; malformed tags end the scan.
func SQLCommenterTags(sql string) map[string]string {
	i := strings.LastIndex(sql, "/*")
	if i < 0 {
		return nil
	}
	// The close is searched after the opening "/*": in "/*/" the "*/"
	// overlaps it and is no close at all.
	j := strings.Index(sql[i+2:], "*/")
	if j < 0 {
		return nil
	}
	body := strings.TrimSpace(sql[i+2 : i+2+j])
	var tags map[string]string
	for body != "" && len(tags) < maxTags {
		eq := strings.IndexByte(body, '=')
		if eq <= 0 || eq+1 >= len(body) || body[eq+1] != '\'' {
			return tags
		}
		key := strings.TrimSpace(body[:eq])
		rest := body[eq+2:]
		end := strings.IndexByte(rest, '\'')
		if end < 0 {
			return tags
		}
		val := rest[:end]
		if v, err := url.QueryUnescape(val); err == nil {
			val = v
		}
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if tags == nil {
			tags = map[string]string{}
		}
		tags[key] = val
		body = strings.TrimLeft(rest[end+1:], " ,")
	}
	return tags
}

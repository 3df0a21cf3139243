package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"hash"
	"slices"
)

// Content detectors: a second net over text values. Each finds spans
// [start, end) in a value; only the spans are replaced.

type span struct{ start, end int }

// detector appends the spans it finds in v to dst.
type detector func(dst []span, v []byte) []span

var detectorByName = map[string]detector{
	"email":          detectEmail,
	"credit_card":    detectCreditCard,
	"aws_access_key": detectAWSAccessKey,
	"aws_secret_key": detectAWSSecretKey,
	"private_key":    detectPrivateKey,
	"jwt":            detectJWT,
	"iban":           detectIBAN,
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isDigit(c) || isUpper(c) || isLower(c) }

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// detectEmail finds local@domain.tld.
func detectEmail(dst []span, v []byte) []span {
	off := 0
	for {
		i := bytes.IndexByte(v[off:], '@')
		if i < 0 {
			return dst
		}
		at := off + i
		off = at + 1
		s := at
		for s > 0 && isEmailLocal(v[s-1]) {
			s--
		}
		e := at + 1
		for e < len(v) && isDomainChar(v[e]) {
			e++
		}
		for e > at+1 && (v[e-1] == '.' || v[e-1] == '-') {
			e--
		}
		if s == at || e == at+1 {
			continue
		}
		dom := v[at+1 : e]
		dot := bytes.LastIndexByte(dom, '.')
		if dot <= 0 || len(dom)-dot-1 < 2 {
			continue
		}
		tldOK := true
		for _, c := range dom[dot+1:] {
			tldOK = tldOK && (isUpper(c) || isLower(c))
		}
		if !tldOK {
			continue
		}
		dst = append(dst, span{s, e})
		off = e
	}
}

// luhn reports whether digits pass the Luhn checksum.
func luhn(digits []byte) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// detectCreditCard finds 13-19 digit runs (spaces or dashes allowed
// between digits) that pass Luhn and are not part of a longer number.
func detectCreditCard(dst []span, v []byte) []span {
	var digits [19]byte
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) || (i > 0 && (isAlnum(v[i-1]) || v[i-1] == '.')) {
			continue
		}
		n, j, end := 0, i, i
		for j < len(v) {
			c := v[j]
			if isDigit(c) {
				if n == len(digits) {
					n++ // too long: not a card
					break
				}
				digits[n] = c
				n++
				j++
				end = j
				continue
			}
			if (c == ' ' || c == '-') && j+1 < len(v) && isDigit(v[j+1]) {
				j++
				continue
			}
			break
		}
		if end < len(v) && (isAlnum(v[end]) || (v[end] == '.' && end+1 < len(v) && isDigit(v[end+1]))) {
			i = end
			continue
		}
		if n >= 13 && n <= 19 && luhn(digits[:n]) {
			dst = append(dst, span{i, end})
		}
		i = end
	}
	return dst
}

var awsKeyPrefixes = [][]byte{
	[]byte("AKIA"), []byte("ASIA"), []byte("AGPA"), []byte("AIDA"), []byte("AROA"),
	[]byte("AIPA"), []byte("ANPA"), []byte("ANVA"), []byte("ABIA"), []byte("ACCA"),
}

// detectAWSAccessKey finds AKIA/ASIA/... followed by 16 upper-case
// letters or digits, as a whole word.
func detectAWSAccessKey(dst []span, v []byte) []span {
	for i := 0; i+20 <= len(v); i++ {
		if v[i] != 'A' || (i > 0 && isAlnum(v[i-1])) {
			continue
		}
		ok := false
		for _, p := range awsKeyPrefixes {
			if bytes.HasPrefix(v[i:], p) {
				ok = true
				break
			}
		}
		if !ok {
			continue
		}
		j := i + 4
		for j < i+20 && (isUpper(v[j]) || isDigit(v[j])) {
			j++
		}
		if j == i+20 && (j == len(v) || !isAlnum(v[j])) {
			dst = append(dst, span{i, j})
			i = j
		}
	}
	return dst
}

func isB64(c byte) bool { return isAlnum(c) || c == '/' || c == '+' }

var secretContext = [][]byte{[]byte("aws"), []byte("secret"), []byte("AWS"), []byte("Secret"), []byte("SECRET")}

// detectAWSSecretKey finds exactly 40 base64 characters with upper, lower
// and digit, in a value that also mentions aws/secret or holds an access
// key id: 40 random-looking characters alone are too common (hashes) to
// mask on shape.
func detectAWSSecretKey(dst []span, v []byte) []span {
	if len(v) < 40 {
		return dst
	}
	ctx := false
	for _, c := range secretContext {
		if bytes.Contains(v, c) {
			ctx = true
			break
		}
	}
	if !ctx && len(detectAWSAccessKey(nil, v)) == 0 {
		return dst
	}
	for i := 0; i+40 <= len(v); i++ {
		if !isB64(v[i]) || (i > 0 && isB64(v[i-1])) {
			continue
		}
		j := i
		var up, lo, dg bool
		for j < len(v) && isB64(v[j]) {
			up = up || isUpper(v[j])
			lo = lo || isLower(v[j])
			dg = dg || isDigit(v[j])
			j++
		}
		if j-i == 40 && up && lo && dg && (j == len(v) || v[j] != '=') {
			dst = append(dst, span{i, j})
		}
		i = j
	}
	return dst
}

var (
	pemBegin = []byte("-----BEGIN ")
	pemKey   = []byte("PRIVATE KEY-----")
	pemEnd   = []byte("-----END ")
)

// detectPrivateKey finds PEM private key blocks; a block cut short (no END
// line) is masked to the end of the value.
func detectPrivateKey(dst []span, v []byte) []span {
	off := 0
	for {
		i := bytes.Index(v[off:], pemBegin)
		if i < 0 {
			return dst
		}
		s := off + i
		lineEnd := bytes.IndexByte(v[s:], '\n')
		header := v[s:]
		if lineEnd >= 0 {
			header = v[s : s+lineEnd]
		}
		if !bytes.Contains(header, pemKey) {
			off = s + len(pemBegin)
			continue
		}
		e := len(v)
		if k := bytes.Index(v[s+len(pemBegin):], pemEnd); k >= 0 {
			endStart := s + len(pemBegin) + k
			if m := bytes.Index(v[endStart+len(pemEnd):], []byte("-----")); m >= 0 {
				e = endStart + len(pemEnd) + m + 5
			}
		}
		dst = append(dst, span{s, e})
		off = e
	}
}

func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// detectJWT finds header.payload.signature where the header is base64url
// JSON naming an alg.
func detectJWT(dst []span, v []byte) []span {
	off := 0
	for {
		i := bytes.Index(v[off:], []byte("eyJ"))
		if i < 0 {
			return dst
		}
		s := off + i
		off = s + 3
		if s > 0 && isB64URL(v[s-1]) {
			continue
		}
		var dots [2]int
		nd, j := 0, s
		for j < len(v) && (isB64URL(v[j]) || v[j] == '.') {
			if v[j] == '.' {
				if nd == 2 {
					break
				}
				dots[nd] = j
				nd++
			}
			j++
		}
		if nd != 2 || dots[1]-dots[0] < 2 || j-dots[1] < 2 {
			continue
		}
		header := v[s:dots[0]]
		dec := make([]byte, base64.RawURLEncoding.DecodedLen(len(header)))
		n, err := base64.RawURLEncoding.Decode(dec, header)
		if err != nil {
			continue
		}
		var h map[string]any
		if json.Unmarshal(dec[:n], &h) != nil {
			continue
		}
		if _, ok := h["alg"]; !ok {
			continue
		}
		dst = append(dst, span{s, j})
		off = j
	}
}

// ibanValid checks an IBAN (spaces removed) with the mod-97 rule.
func ibanValid(s []byte) bool {
	if len(s) < 15 || len(s) > 34 || !isUpper(s[0]) || !isUpper(s[1]) || !isDigit(s[2]) || !isDigit(s[3]) {
		return false
	}
	rem := 0
	for k := 0; k < len(s); k++ {
		c := s[(k+4)%len(s)]
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case isUpper(c):
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// detectIBAN finds IBANs, compact or printed in groups of four.
func detectIBAN(dst []span, v []byte) []span {
	var buf [34]byte
	for i := 0; i+15 <= len(v); i++ {
		if !isUpper(v[i]) || (i > 0 && isAlnum(v[i-1])) || !isUpper(v[i+1]) || !isDigit(v[i+2]) || !isDigit(v[i+3]) {
			continue
		}
		n, j, end := 0, i, i
		for j < len(v) && n < len(buf) {
			c := v[j]
			if isDigit(c) || isUpper(c) {
				buf[n] = c
				n++
				j++
				end = j
				continue
			}
			if c == ' ' && j+1 < len(v) && (isDigit(v[j+1]) || isUpper(v[j+1])) {
				j++
				continue
			}
			break
		}
		// Grouped IBANs may run into the next word: try the longest valid prefix.
		for n >= 15 {
			if ibanValid(buf[:n]) && (end == len(v) || !isAlnum(v[end])) {
				dst = append(dst, span{i, end})
				i = end
				break
			}
			n--
			end--
			for end > i && v[end-1] == ' ' {
				end--
			}
		}
	}
	return dst
}

// detectPlan is the policy's detectors with the method each one uses.
type detectPlan struct {
	dets    []detector
	methods []*maskMethod
	names   []string
}

// hashes reports whether any detector masks with the keyed hash (its
// masker then needs an HMAC).
func (d *detectPlan) hashes() bool {
	for _, m := range d.methods {
		if m.kind == methodHash {
			return true
		}
	}
	return false
}

func (d *detectPlan) add(det detector, m *maskMethod) {
	d.dets = append(d.dets, det)
	d.methods = append(d.methods, m)
}

// scan finds every span in v, tagging each with its detector index.
func (d *detectPlan) scan(dst []taggedSpan, v []byte, tmp []span) ([]taggedSpan, []span) {
	for k, det := range d.dets {
		tmp = det(tmp[:0], v)
		for _, s := range tmp {
			dst = append(dst, taggedSpan{span: s, det: k})
		}
	}
	return dst, tmp
}

type taggedSpan struct {
	span
	det int
}

// replaceSpans rewrites v with every (merged) span masked. A null method
// makes the whole value NULL.
func (d *detectPlan) replaceSpans(v []byte, spans []taggedSpan, h hash.Hash) []byte {
	slices.SortFunc(spans, func(a, b taggedSpan) int { return a.start - b.start })
	out := make([]byte, 0, len(v))
	pos := 0
	text := Field{Type: TypeText, Size: -1}
	for i := 0; i < len(spans); i++ {
		s := spans[i]
		if s.end <= pos {
			continue
		}
		if s.start < pos {
			s.start = pos
		}
		// Merge overlapping spans into one.
		for i+1 < len(spans) && spans[i+1].start < s.end {
			if spans[i+1].end > s.end {
				s.end = spans[i+1].end
			}
			i++
		}
		m := d.methods[s.det]
		if m.kind == methodNull {
			return nil
		}
		out = append(out, v[pos:s.start]...)
		out = append(out, m.apply(&text, v[s.start:s.end], h, nil)...)
		pos = s.end
	}
	return append(out, v[pos:]...)
}

package policy

import "bytes"

// COPY ... TO STDOUT sends rows as CopyData, not DataRow. In text format a
// row is one line: fields separated by tabs, \N for NULL, backslash escapes
// for tab, newline and backslash inside values. CopyOutResponse carries no
// column names, so the engine passes Fields with empty names; a star over a
// table then masks every column that could be a masked one (fail closed).

// MaskCopyText masks one text-format COPY row (a CopyData payload) and
// returns the row to send plus the masked column names. The input is
// returned as is when nothing changed. Masking works on the escaped field
// bytes; replacements are escaped again. CSV and binary COPY formats are
// not handled here.
func (r *RowMasker) MaskCopyText(line []byte) ([]byte, []string) {
	if r == nil {
		return line, nil
	}
	body, nl := line, false
	if len(body) > 0 && body[len(body)-1] == '\n' {
		body, nl = body[:len(body)-1], true
	}
	r.copyRaw, r.copyVals, r.copyBuf = r.copyRaw[:0], r.copyVals[:0], r.copyBuf[:0]
	for start := 0; ; {
		end := bytes.IndexByte(body[start:], '\t')
		var f []byte
		if end < 0 {
			f = body[start:]
		} else {
			f = body[start : start+end]
		}
		r.copyRaw = append(r.copyRaw, f)
		if end < 0 {
			break
		}
		start += end + 1
	}
	// Decode escaped fields so methods see the real value; copyBuf is
	// sized up front so the decoded slices never move.
	if cap(r.copyBuf) < len(body) {
		r.copyBuf = make([]byte, 0, len(body))
	}
	for _, f := range r.copyRaw {
		switch {
		case len(f) == 2 && f[0] == '\\' && f[1] == 'N':
			r.copyVals = append(r.copyVals, nil)
		case bytes.IndexByte(f, '\\') >= 0:
			from := len(r.copyBuf)
			r.copyBuf = appendCopyUnescaped(r.copyBuf, f)
			r.copyVals = append(r.copyVals, r.copyBuf[from:len(r.copyBuf):len(r.copyBuf)])
		default:
			r.copyVals = append(r.copyVals, f)
		}
	}
	r.copyOrig = append(r.copyOrig[:0], r.copyVals...)
	names := r.MaskRow(r.copyVals)
	changed := false
	for i, v := range r.copyVals {
		changed = changed || !sameSlice(v, r.copyOrig[i])
	}
	if !changed {
		return line, names
	}
	out := make([]byte, 0, len(line)+8)
	for i, v := range r.copyVals {
		if i > 0 {
			out = append(out, '\t')
		}
		switch {
		case sameSlice(v, r.copyOrig[i]):
			out = append(out, r.copyRaw[i]...)
		case v == nil:
			out = append(out, '\\', 'N')
		default:
			out = appendCopyEscaped(out, v)
		}
	}
	if nl {
		out = append(out, '\n')
	}
	return out, names
}

// appendCopyUnescaped decodes COPY text escapes (\t, \n, \\, octal, ...).
func appendCopyUnescaped(dst, f []byte) []byte {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			dst = append(dst, c)
			continue
		}
		i++
		switch f[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, k := 0, 0
			for k < 3 && i+k < len(f) && f[i+k] >= '0' && f[i+k] <= '7' {
				v = v*8 + int(f[i+k]-'0')
				k++
			}
			dst = append(dst, byte(v))
			i += k - 1
		default:
			dst = append(dst, f[i])
		}
	}
	return dst
}

func sameSlice(a, b []byte) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// appendCopyEscaped escapes a replacement value for COPY text format.
func appendCopyEscaped(dst, v []byte) []byte {
	for _, c := range v {
		switch c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

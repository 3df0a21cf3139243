package policy

import (
	"bytes"
	"hash"
)

// StreamMasker applies the policy's content detectors to a byte stream,
// such as a terminal's output, where a secret can be split across reads.
// It holds back the tail of the stream that could still be the start of a
// secret and emits it on the next chunk or on Flush. Engines call Flush when
// the output has been quiet briefly, so interactive echo is delayed by at
// most that pause and only on targets whose policy has detectors.
//
// Private key blocks are masked whole: output from "-----BEGIN ... PRIVATE
// KEY-----" is held until its END line (at most maxHeld bytes, after which
// the rest of the block is swallowed until the END line arrives).
type StreamMasker struct {
	plan  *detectPlan
	h     hash.Hash
	held  []byte
	inKey bool // swallowing the body of a private key block too long to hold
	out   []byte
	spans []taggedSpan
	tmp   []span
	// line is the raw tail of the current output line already emitted.
	line    []byte
	scanBuf []byte
}

// lineContext bounds the emitted line tail kept as detection context.
const lineContext = 64

// lastLine returns the tail of b after its last newline, at most lineContext bytes, in dst's storage.
func lastLine(dst, b []byte) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) > lineContext {
		b = b[len(b)-lineContext:]
	}
	return append(dst[:0], b...)
}

// maxHeld bounds what the masker holds back.
const maxHeld = 64 << 10

// OutputMasker returns a masker for one stream, or nil when the policy has
// no content detectors (then output passes untouched).
func (p *Policy) OutputMasker() *StreamMasker {
	if p == nil || p.detect == nil {
		return nil
	}
	sm := &StreamMasker{plan: p.detect}
	if len(p.hashKey) > 0 {
		sm.h = newHMAC(p.hashKey)
	}
	return sm
}

// Mask takes the next chunk and returns the bytes that are safe to emit now,
// masked. The result is valid until the next call.
func (m *StreamMasker) Mask(chunk []byte) []byte {
	if m == nil {
		return chunk
	}
	m.held = append(m.held, chunk...)
	m.out = m.out[:0]
	if m.inKey {
		if !m.skipKeyBody() {
			return m.out
		}
	}
	cut := len(m.held) - holdback(m.held)
	if cut == 0 && len(m.held) > maxHeld {
		cut = len(m.held)
	}
	m.emit(cut)
	return m.out
}

// Flush returns everything held back, masked; call it when the stream ends
// or goes quiet. An unterminated private key block is masked to its end.
func (m *StreamMasker) Flush() []byte {
	if m == nil {
		return nil
	}
	m.out = m.out[:0]
	if m.inKey {
		// Still inside a long key block: nothing of it may be emitted.
		if len(m.held) > len(pemEnd)+64 {
			m.held = append(m.held[:0], m.held[len(m.held)-len(pemEnd)-64:]...)
		}
		return m.out
	}
	m.emit(len(m.held))
	return m.out
}

// emit masks held[:cut], appends it to out and keeps the rest.
func (m *StreamMasker) emit(cut int) {
	if cut <= 0 {
		return
	}
	part := m.held[:cut]
	// Scan with the already-emitted start of the current line in front, so
	// context words ("aws_secret_access_key = ") count across chunks; spans
	// are then made relative to part, clipped to what is not yet emitted.
	m.scanBuf = append(append(m.scanBuf[:0], m.line...), part...)
	m.spans, m.tmp = m.plan.scan(m.spans[:0], m.scanBuf, m.tmp)
	off := len(m.line)
	kept := m.spans[:0]
	for _, sp := range m.spans {
		if sp.end <= off {
			continue
		}
		sp.start = max(sp.start-off, 0)
		sp.end -= off
		kept = append(kept, sp)
	}
	m.spans = kept
	m.line = lastLine(m.line, m.scanBuf)
	if len(m.spans) == 0 {
		m.out = append(m.out, part...)
	} else {
		masked := m.plan.replaceSpans(part, m.spans, m.h)
		if masked == nil {
			masked = []byte("****") // the null method: nothing of the value stays
		}
		m.out = append(m.out, masked...)
		if openKeyBlock(part) {
			m.inKey = true
		}
	}
	rest := copy(m.held, m.held[cut:])
	m.held = m.held[:rest]
	if m.inKey {
		m.skipKeyBody()
	}
}

// skipKeyBody drops held bytes up to and including a key block's END line.
// It reports whether the END was found (the stream is back to normal).
func (m *StreamMasker) skipKeyBody() bool {
	i := bytes.Index(m.held, pemEnd)
	if i >= 0 {
		if j := bytes.Index(m.held[i+len(pemEnd):], []byte("-----")); j >= 0 {
			end := i + len(pemEnd) + j + 5
			rest := copy(m.held, m.held[end:])
			m.held = m.held[:rest]
			m.inKey = false
			return true
		}
	}
	// Keep only a tail long enough to see an END marker split across chunks.
	if keep := len(pemEnd) + 64; len(m.held) > keep {
		m.held = append(m.held[:0], m.held[len(m.held)-keep:]...)
	}
	return false
}

// openKeyBlock reports whether b has a private key BEGIN with no END after it.
func openKeyBlock(b []byte) bool {
	i := bytes.LastIndex(b, pemBegin)
	if i < 0 {
		return false
	}
	line := b[i:]
	if nl := bytes.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	return bytes.Contains(line, pemKey) && !bytes.Contains(b[i:], pemEnd)
}

// holdback is how many trailing bytes of b could still be the start of a
// secret and must wait for more input.
func holdback(b []byte) int {
	// A PEM header not yet complete, or a private key block not yet ended.
	if i := bytes.LastIndex(b, pemBegin); i >= 0 && len(b)-i <= maxHeld {
		tail := b[i:]
		nl := bytes.IndexByte(tail, '\n')
		if nl < 0 || (bytes.Contains(tail[:nl], pemKey) && !bytes.Contains(tail, pemEnd)) {
			return len(tail)
		}
	}
	// The start of a BEGIN marker at the very end.
	for k := len(pemBegin) - 1; k > 0; k-- {
		if bytes.HasSuffix(b, pemBegin[:k]) {
			return k
		}
	}
	// A trailing run of characters secrets are made of.
	n := 0
	for n < len(b) && n < maxHeld && isSecretChar(b[len(b)-1-n]) {
		n++
	}
	// Card numbers are often grouped: "4111 1111 1111 1111".
	if n == 0 || isDigit(b[len(b)-n]) {
		k := n
		digits := 0
		for k < len(b) && k < n+24 {
			c := b[len(b)-1-k]
			if !isDigit(c) && c != ' ' && c != '-' {
				break
			}
			if isDigit(c) {
				digits++
			}
			k++
		}
		if digits > 0 {
			n = k
		}
	}
	// Keep some of the line before a held run: detectors such as the AWS
	// secret key need the words in front of it ("aws_secret_access_key = ").
	if n > 0 {
		for k := 0; k < contextBytes && n < len(b) && b[len(b)-1-n] != '\n'; k++ {
			n++
		}
	}
	return n
}

// contextBytes is how much of the line before a held run is held with it.
const contextBytes = 40

func isSecretChar(c byte) bool {
	return isAlnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' || c == '.' || c == '@'
}

package mysql

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"

	gm "github.com/go-mysql-org/go-mysql/mysql"
)

// serverCaps are the capabilities the gateway offers clients. Compression
// and query attributes are not offered (MariaDB lacks the latter, and both
// change the framing the relay decodes); everything here is requested
// upstream exactly as the client chose it, so both legs speak one dialect.
const serverCaps = gm.CLIENT_LONG_PASSWORD | gm.CLIENT_FOUND_ROWS | gm.CLIENT_LONG_FLAG |
	gm.CLIENT_CONNECT_WITH_DB | gm.CLIENT_LOCAL_FILES | gm.CLIENT_IGNORE_SPACE |
	gm.CLIENT_PROTOCOL_41 | gm.CLIENT_INTERACTIVE | gm.CLIENT_SSL | gm.CLIENT_TRANSACTIONS |
	gm.CLIENT_SECURE_CONNECTION | gm.CLIENT_MULTI_STATEMENTS | gm.CLIENT_MULTI_RESULTS |
	gm.CLIENT_PS_MULTI_RESULTS | gm.CLIENT_PLUGIN_AUTH | gm.CLIENT_CONNECT_ATTRS |
	gm.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | gm.CLIENT_SESSION_TRACK | gm.CLIENT_DEPRECATE_EOF

// defaultCollation is utf8mb4_general_ci, announced in the greeting.
const defaultCollation = 45

// maxAttrs bounds the connection attributes kept from a client.
const maxAttrs = 32

// newScramble returns 20 random printable bytes (no NUL, which some
// clients treat as a terminator).
func newScramble() ([]byte, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	for i := range b {
		b[i] = 0x21 + b[i]%0x5e
	}
	return b, nil
}

// appendGreeting encodes the server's HandshakeV10 packet.
func appendGreeting(dst []byte, version string, connID uint32, scramble []byte, plugin string) []byte {
	dst = append(dst, 10)
	dst = append(dst, version...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, connID)
	dst = append(dst, scramble[:8]...)
	dst = append(dst, 0)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(serverCaps&0xffff))
	dst = append(dst, defaultCollation)
	dst = binary.LittleEndian.AppendUint16(dst, gm.SERVER_STATUS_AUTOCOMMIT)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(serverCaps>>16))
	dst = append(dst, byte(len(scramble)+1))
	dst = append(dst, make([]byte, 10)...)
	dst = append(dst, scramble[8:]...)
	dst = append(dst, 0)
	dst = append(dst, plugin...)
	return append(dst, 0)
}

// handshakeResponse is a decoded HandshakeResponse41 (or SSLRequest).
type handshakeResponse struct {
	Caps      uint32
	Collation uint8
	User      string
	Auth      []byte
	DB        string
	Plugin    string
	Attrs     map[string]string
	// SSLRequest is true for the short packet asking to switch to TLS.
	SSLRequest bool
}

// sslRequestLen is the length of an SSLRequest packet: the fixed prefix
// of a HandshakeResponse41.
const sslRequestLen = 32

// parseHandshakeResponse decodes a client's HandshakeResponse41. Protocol
// 3.20 clients (no CLIENT_PROTOCOL_41) are refused by the caller.
func parseHandshakeResponse(p []byte) (*handshakeResponse, error) {
	if len(p) < sslRequestLen {
		return nil, errMalformed
	}
	h := &handshakeResponse{Caps: binary.LittleEndian.Uint32(p), Collation: p[8]}
	if len(p) == sslRequestLen {
		if h.Caps&gm.CLIENT_SSL == 0 {
			return nil, errMalformed
		}
		h.SSLRequest = true
		return h, nil
	}
	rest := p[sslRequestLen:]
	user, rest, err := cutNul(rest)
	if err != nil {
		return nil, err
	}
	h.User = string(user)
	switch {
	case h.Caps&gm.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0:
		s, _, n, err := readLenEncString(rest)
		if err != nil {
			return nil, err
		}
		h.Auth, rest = bytes.Clone(s), rest[n:]
	case h.Caps&gm.CLIENT_SECURE_CONNECTION != 0:
		if len(rest) < 1 || len(rest)-1 < int(rest[0]) {
			return nil, errMalformed
		}
		n := int(rest[0])
		h.Auth, rest = bytes.Clone(rest[1:1+n]), rest[1+n:]
	default:
		a, r, err := cutNul(rest)
		if err != nil {
			return nil, err
		}
		h.Auth, rest = bytes.Clone(a), r
	}
	if h.Caps&gm.CLIENT_CONNECT_WITH_DB != 0 && len(rest) > 0 {
		db, r, err := cutNul(rest)
		if err != nil {
			return nil, err
		}
		h.DB, rest = string(db), r
	}
	if h.Caps&gm.CLIENT_PLUGIN_AUTH != 0 && len(rest) > 0 {
		pl, r, err := cutNul(rest)
		if err != nil {
			// Some clients omit the terminator on the last field.
			pl, r = rest, nil
		}
		h.Plugin, rest = string(pl), r
	}
	if h.Caps&gm.CLIENT_CONNECT_ATTRS != 0 && len(rest) > 0 {
		attrs, err := parseConnAttrs(rest)
		if err != nil {
			return nil, err
		}
		h.Attrs = attrs
	}
	return h, nil
}

// parseConnAttrs decodes the key/value connection attributes (program
// name, client version), keeping at most maxAttrs.
func parseConnAttrs(b []byte) (map[string]string, error) {
	total, _, n, err := readLenEncInt(b)
	if err != nil {
		return nil, err
	}
	if total > uint64(len(b)-n) {
		return nil, errMalformed
	}
	b = b[n : n+int(total)]
	attrs := map[string]string{}
	for len(b) > 0 {
		k, _, n, err := readLenEncString(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		v, _, n, err := readLenEncString(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		if len(attrs) < maxAttrs {
			attrs[string(k)] = string(v)
		}
	}
	return attrs, nil
}

func cutNul(b []byte) (field, rest []byte, err error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, errMalformed
	}
	return b[:i], b[i+1:], nil
}

// appendAuthSwitch encodes an AuthSwitchRequest to plugin with scramble.
func appendAuthSwitch(dst []byte, plugin string, scramble []byte) []byte {
	dst = append(dst, hdrEOF)
	dst = append(dst, plugin...)
	dst = append(dst, 0)
	dst = append(dst, scramble...)
	return append(dst, 0)
}

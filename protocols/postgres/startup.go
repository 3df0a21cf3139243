package postgres

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Startup packet codes (the first int32 after the length).
const (
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
	cancelRequestCode = 80877102
	protocolMajor3    = 3

	maxStartupPacketLen = 10000 // MAX_STARTUP_PACKET_LENGTH in Postgres
	tlsHandshakeRecord  = 0x16  // first byte of a TLS ClientHello (direct SSL, PG17+)
	alpnPostgres        = "postgresql"
)

// startup is the outcome of the pre-authentication exchange.
type startup struct {
	conn   net.Conn // the client connection, TLS-wrapped when negotiated
	tls    bool
	msg    *pgproto3.StartupMessage
	cancel *pgproto3.CancelRequest
	// minor is the protocol minor version the client asked for; >0 means we
	// must answer NegotiateProtocolVersion (we speak 3.0).
	minor uint32
	// unrecognized are _pq_.* protocol options we do not support.
	unrecognized []string
}

// negotiate handles SSLRequest, direct SSL (ClientHello first, ALPN
// "postgresql"), GSSENCRequest, CancelRequest and the StartupMessage. It
// reads exactly the bytes of each packet, so no plaintext can be buffered
// across the switch to TLS (the CVE-2021-23214 class of injection).
func negotiate(conn net.Conn, tlsConf *tls.Config) (*startup, error) {
	st := &startup{conn: conn}
	var first [1]byte
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		return nil, fmt.Errorf("reading startup: %w", err)
	}
	var r io.Reader = io.MultiReader(bytes.NewReader(first[:]), conn)
	if first[0] == tlsHandshakeRecord {
		if tlsConf == nil {
			return nil, errors.New("direct TLS attempted but the gateway has no certificate")
		}
		tc, err := serverTLS(&prefixConn{Conn: conn, r: r}, tlsConf, true)
		if err != nil {
			return nil, err
		}
		st.conn, st.tls, r = tc, true, tc
	}
	for {
		body, code, err := readStartupPacket(r)
		if err != nil {
			return nil, err
		}
		switch {
		case code == sslRequestCode:
			if st.tls {
				return nil, errors.New("SSLRequest received twice")
			}
			if tlsConf == nil {
				if _, err := st.conn.Write([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := st.conn.Write([]byte{'S'}); err != nil {
				return nil, err
			}
			tc, err := serverTLS(st.conn, tlsConf, false)
			if err != nil {
				return nil, err
			}
			st.conn, st.tls, r = tc, true, tc
		case code == gssEncRequestCode:
			// GSSAPI encryption is not offered: 'N' and the client goes on.
			if _, err := st.conn.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case code == cancelRequestCode:
			var cr pgproto3.CancelRequest
			if err := cr.Decode(body); err != nil {
				return nil, fmt.Errorf("bad CancelRequest: %w", err)
			}
			st.cancel = &cr
			return st, nil
		case code>>16 == protocolMajor3:
			st.minor = code & 0xffff
			if st.minor != 0 {
				// We speak 3.0: decode as 3.0 and tell the client after auth.
				binary.BigEndian.PutUint32(body, pgproto3.ProtocolVersion30)
			}
			var sm pgproto3.StartupMessage
			if err := sm.Decode(body); err != nil {
				return nil, fmt.Errorf("bad StartupMessage: %w", err)
			}
			for k := range sm.Parameters {
				if len(k) > 4 && k[:4] == "_pq_" {
					st.unrecognized = append(st.unrecognized, k)
					delete(sm.Parameters, k)
				}
			}
			st.msg = &sm
			return st, nil
		default:
			return nil, &clientError{severity: "FATAL", code: codeFeatureNotSupported,
				msg: fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0", code>>16, code&0xffff)}
		}
	}
}

// readStartupPacket reads one length-prefixed startup packet, bounded.
func readStartupPacket(r io.Reader) (body []byte, code uint32, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("reading startup packet: %w", err)
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[:]))) - 4
	if n < 4 || n > maxStartupPacketLen {
		return nil, 0, fmt.Errorf("invalid startup packet length %d", n+4)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, 0, fmt.Errorf("reading startup packet: %w", err)
	}
	return body, binary.BigEndian.Uint32(body), nil
}

func serverTLS(conn net.Conn, base *tls.Config, direct bool) (*tls.Conn, error) {
	cfg := base.Clone()
	// Offer ALPN "postgresql". A client that sent SSLRequest may omit ALPN;
	// direct SSL (PG17) must use it, checked after the handshake.
	cfg.NextProtos = []string{alpnPostgres}
	tc := tls.Server(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if direct && tc.ConnectionState().NegotiatedProtocol != alpnPostgres {
		return nil, errors.New("direct TLS without ALPN \"postgresql\" refused")
	}
	return tc, nil
}

// prefixConn replays bytes already read before handing over to TLS.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

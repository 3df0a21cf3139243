package postgres

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/identity"
	"github.com/sluice-gw/sluice/policy"
	"github.com/sluice-gw/sluice/protocols/listener"
	"github.com/sluice-gw/sluice/session"
	"github.com/sluice-gw/sluice/testenv"
)

// encodeMsg encodes a frontend message for seeds.
func encodeMsg(tb testing.TB, msgs ...pgproto3.FrontendMessage) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := m.Encode(out)
		if err != nil {
			tb.Fatal(err)
		}
		out = b
	}
	return out
}

// startupPacket builds a raw startup packet with the given code and body.
func startupPacket(code uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, body...)
}

func FuzzNegotiate(f *testing.F) {
	f.Add(encodeMsg(f, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "alice", "database": "app"}}))
	f.Add(startupPacket(sslRequestCode, nil))
	f.Add(append(startupPacket(gssEncRequestCode, nil), startupPacket(pgproto3.ProtocolVersion30, []byte("user\x00a\x00\x00"))...))
	f.Add(startupPacket(cancelRequestCode, []byte{0, 0, 0, 1, 0, 0, 0, 2}))
	f.Add(startupPacket(3<<16|2, []byte("user\x00a\x00_pq_.x\x00y\x00\x00")))
	f.Add(startupPacket(1234<<16|5678, nil))
	f.Add([]byte{0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Add([]byte{0, 0, 0, 4})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	tlsConf := fuzzServerTLS(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			server.SetDeadline(time.Now().Add(2 * time.Second))
			st, err := negotiate(server, tlsConf)
			if err == nil && st.msg == nil && st.cancel == nil {
				t.Errorf("negotiate returned neither a startup, a cancel nor an error")
			}
			server.Close()
		}()
		// Answers ('S', 'N', TLS records) are drained while the input is
		// written; then the client leaves, so a partial packet ends in EOF.
		go io.Copy(io.Discard, client)
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("negotiate did not return")
		}
	})
}

// fuzzServerTLS is a server TLS config with a throwaway certificate, so the
// SSLRequest and direct-TLS paths run too.
func fuzzServerTLS(tb testing.TB) *tls.Config {
	ca, err := testenv.NewCA()
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, keyPEM, err := ca.ServerCert("localhost")
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

func FuzzReadStartupPacket(f *testing.F) {
	f.Add(startupPacket(pgproto3.ProtocolVersion30, []byte("user\x00alice\x00\x00")))
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})
	f.Add([]byte{0, 0, 0, 3})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 39, 16, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		body, code, err := readStartupPacket(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(body) < 4 || len(body) > maxStartupPacketLen || len(body)+4 > len(data) {
			t.Fatalf("body of %d bytes from %d input bytes", len(body), len(data))
		}
		if code != binary.BigEndian.Uint32(body) {
			t.Fatalf("code %d does not match body", code)
		}
	})
}

// sqlcommenter tags are parsed by session.SQLCommenterTags, fuzzed in session.

func FuzzRowsFromTag(f *testing.F) {
	for _, s := range []string{"SELECT 5", "INSERT 0 3", "UPDATE 18446744073709551615", "COPY 12", "BEGIN", "", " ", "5", "X 99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		n := rowsFromTag(tag)
		if n < 0 {
			t.Fatalf("negative row count %d from %q: the digits overflow int64", n, tag)
		}
		if n != 0 && (len(tag) < 2 || tag[len(tag)-1] < '0' || tag[len(tag)-1] > '9') {
			t.Fatalf("rows %d from tag %q without a trailing number", n, tag)
		}
	})
}

// fuzzEngine is a Postgres engine in front of its own, empty, Postgres: the
// fuzzer's bytes reach a real server and must not be able to harm the data
// other tests rely on.
type fuzzEngine struct {
	e    *Engine
	user string
}

func newFuzzEngine(tb testing.TB) *fuzzEngine {
	tb.Helper()
	up := testenv.PostgresForTest(tb)
	yaml := fmt.Sprintf(`
data_dir: %s
identities:
  - {name: alice, token: fuzz-token, groups: [developers]}
targets:
  - name: appdb
    protocol: postgres
    listen: 127.0.0.1:0
    policy: guarded
    upstream:
      address: %s
      user: %s
      password: %q
      tls: {mode: verify-full, ca_file: %s}
policies:
  guarded:
    rules:
      - {name: no-drops, when: {sql: [drop, truncate]}, action: block}
      - {name: bulk-writes, when: {sql: [delete, update], without_where: true}, action: review}
    masks:
      - {columns: [users.email], method: partial}
approvals:
  timeout: 1s
`, tb.TempDir(), up.Addr, up.User, up.Password, up.CAFile)
	cfg, err := config.Parse([]byte(yaml), "fuzz.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := identity.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pols, err := policy.NewSet(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	store, err := session.OpenStore(cfg.DataDir, session.Options{Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	broker := policy.NewBroker(cfg.Approvals, policy.BrokerOptions{Log: log})
	tb.Cleanup(func() { broker.Close(); store.Close() })
	deps := listener.Deps{Config: cfg, Auth: auth, Policies: pols, Broker: broker, Store: store, Log: log}
	e, err := New(&cfg.Targets[0], deps, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzEngine{e: e, user: "alice"}
}

// session runs one gateway session over a pipe: a real pgconn startup
// (SCRAM), then the raw bytes, then the client leaves. Handle must return.
func (fe *fuzzEngine) session(t *testing.T, data []byte) {
	client, server := net.Pipe()
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		fe.e.Handle(context.Background(), server)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgconn.ParseConfig("host=127.0.0.1 user=alice password=fuzz-token dbname=app sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) { return client, nil }
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		client.Close()
		<-handled
		t.Fatalf("startup through the engine: %v", err)
	}
	hj, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	conn := hj.Conn
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(io.Discard, conn)
	}()
	conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	conn.Write(data)
	// Give the gateway a moment to act on what it got, then leave.
	select {
	case <-drained:
	case <-time.After(50 * time.Millisecond):
	}
	conn.Close()
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatalf("the engine did not end the session 10s after the client left (input %q)", data)
	}
	<-drained
}

func FuzzRelayFrontendMessages(f *testing.F) {
	f.Add(encodeMsg(f, &pgproto3.Query{String: "SELECT 1"}))
	f.Add(encodeMsg(f, &pgproto3.Query{String: "DROP TABLE x"}, &pgproto3.Query{String: "SELECT 2"}))
	f.Add(encodeMsg(f, &pgproto3.Parse{Name: "s", Query: "SELECT $1::int"}, &pgproto3.Describe{ObjectType: 'S', Name: "s"},
		&pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("7")}}, &pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(encodeMsg(f, &pgproto3.Bind{PreparedStatement: "nope"}, &pgproto3.Execute{Portal: "nope"}, &pgproto3.Sync{}))
	f.Add(encodeMsg(f, &pgproto3.Parse{Query: "DROP TABLE t"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(encodeMsg(f, &pgproto3.Query{String: "CREATE TEMP TABLE c(x int); COPY c FROM STDIN"}, &pgproto3.CopyData{Data: []byte("1\n2\n")}, &pgproto3.CopyDone{}))
	f.Add(encodeMsg(f, &pgproto3.Query{String: "COPY (SELECT 1) TO STDOUT"}, &pgproto3.CopyFail{Message: "x"}))
	f.Add(encodeMsg(f, &pgproto3.FunctionCall{Function: 1598, Arguments: [][]byte{}, ResultFormatCode: 0}, &pgproto3.Sync{}))
	f.Add(encodeMsg(f, &pgproto3.Close{ObjectType: 'S', Name: "x"}, &pgproto3.Flush{}, &pgproto3.Terminate{}))
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'Q', 0, 0, 0, 3})
	f.Add([]byte{'B', 0, 0, 0, 12, 0, 0, 0xff, 0xff, 0, 1, 0, 0})
	f.Add([]byte{'X', 0, 0, 0, 4})
	f.Add([]byte{'z', 0, 0, 0, 4})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	fe := newFuzzEngine(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fe.session(t, data)
	})
}

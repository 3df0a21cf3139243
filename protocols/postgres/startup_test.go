package postgres

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/policy"
)

func packet(code uint32, body ...byte) []byte {
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	binary.BigEndian.PutUint32(b[4:], code)
	return append(b, body...)
}

// TestGSSEncRefusedThenStartup: GSSENCRequest gets 'N' and the client
// carries on in the clear; a 3.2 StartupMessage is read as 3.0 with the
// minor version remembered for NegotiateProtocolVersion.
func TestGSSEncRefusedThenStartup(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	type result struct {
		st  *startup
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := negotiate(server, nil)
		done <- result{st, err}
	}()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Write(packet(gssEncRequestCode)); err != nil {
		t.Fatal(err)
	}
	var resp [1]byte
	if _, err := io.ReadFull(client, resp[:]); err != nil || resp[0] != 'N' {
		t.Fatalf("GSSENC answer %q %v, want N", resp, err)
	}
	// SSLRequest without a gateway certificate: 'N' as well.
	client.Write(packet(sslRequestCode))
	if _, err := io.ReadFull(client, resp[:]); err != nil || resp[0] != 'N' {
		t.Fatalf("SSL answer %q %v, want N", resp, err)
	}
	body := []byte("user\x00alice\x00_pq_.feature\x00on\x00\x00")
	client.Write(packet(3<<16|2, body...))
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.st.minor != 2 || r.st.msg.Parameters["user"] != "alice" || len(r.st.unrecognized) != 1 {
		t.Fatalf("startup %+v %+v", r.st, r.st.msg)
	}
	if _, ok := r.st.msg.Parameters["_pq_.feature"]; ok {
		t.Fatal("protocol options must not reach the startup parameters")
	}
}

func TestStartupRejectsBadLengthsAndVersions(t *testing.T) {
	for name, pkt := range map[string][]byte{
		"too long":   {0, 1, 0, 0, 0, 3, 0, 0},
		"too short":  {0, 0, 0, 4, 0, 0, 0, 0},
		"protocol 2": packet(2 << 16),
	} {
		client, server := net.Pipe()
		go func() { client.Write(pkt); client.Close() }()
		server.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := negotiate(server, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
		server.Close()
	}
}

func TestSampleTextDecodesBinary(t *testing.T) {
	cases := []struct {
		f    policy.Field
		v    []byte
		want string
	}{
		{policy.Field{Binary: true, Type: policy.TypeInt, Size: 4}, []byte{0xff, 0xff, 0xff, 0xfe}, "-2"},
		{policy.Field{Binary: true, Type: policy.TypeInt, Size: 8}, []byte{0, 0, 0, 0, 0, 0, 0, 7}, "7"},
		{policy.Field{Binary: true, Type: policy.TypeInt, Size: 2}, []byte{0, 42}, "42"},
		{policy.Field{Binary: true, Type: policy.TypeFloat, Size: 8}, []byte{0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, "1.5"},
		{policy.Field{Binary: true, Type: policy.TypeBool}, []byte{1}, "t"},
		{policy.Field{Binary: true, Type: policy.TypeText}, []byte("hello"), "hello"},
		{policy.Field{Binary: true, Type: policy.TypeOther}, []byte{0xab}, `\xab`},
		{policy.Field{Binary: true, Type: policy.TypeInt}, []byte{1, 2, 3}, `\x010203`}, // wrong width: hex
		{policy.Field{}, []byte("42"), "42"},
		{policy.Field{}, nil, "NULL"},
	}
	for _, c := range cases {
		if got := sampleText(c.f, c.v); got != c.want {
			t.Errorf("%+v %x: %q, want %q", c.f, c.v, got, c.want)
		}
	}
}

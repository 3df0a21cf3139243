package servertls

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func TestSelfSignedIsGeneratedOnceAndServes(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{DataDir: dir}
	c1, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pem1, err := os.ReadFile(filepath.Join(dir, "gateway-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "gateway-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	if _, err := Load(cfg); err != nil {
		t.Fatal(err)
	}
	pem2, _ := os.ReadFile(filepath.Join(dir, "gateway-cert.pem"))
	if !bytes.Equal(pem1, pem2) {
		t.Fatal("certificate regenerated on second load: clients pinning it would break")
	}

	// A client trusting the generated certificate completes a handshake for 127.0.0.1.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", c1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509Pool(t, pem1)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("verify-full against the generated certificate: %v", err)
	}
	conn.Close()
}

func TestConfiguredPairMissingIsAnError(t *testing.T) {
	cfg := &config.Config{DataDir: t.TempDir(), TLS: config.ServerTLS{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent-key.pem"}}
	if _, err := Load(cfg); err == nil {
		t.Fatal("want an error naming the missing certificate")
	}
}

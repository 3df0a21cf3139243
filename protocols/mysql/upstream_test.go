package mysql

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/upstream"
)

func TestRDSIAMToken(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example-secret-key-example-secret-key0000")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	tgt := &config.Target{Name: "rds", Protocol: "mysql", Upstream: config.Upstream{
		Address: "db.example.internal:3306", User: "iam_user",
		AWSRDSIAM: &config.AWSRDSIAM{Region: "eu-west-1"},
	}}
	if _, err := newUpstreamDialer(tgt, 1<<20); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("an IAM target without TLS was accepted: %v", err)
	}
	tgt.Upstream.TLS.Mode = "verify-full"
	d, err := newUpstreamDialer(tgt, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := upstream.Password(context.Background(), d.target.Upstream.Address, d.target.AccountFor("alice", nil), d.tls != nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "db.example.internal:3306?Action=connect") || !strings.Contains(tok, "DBUser=iam_user") ||
		!strings.Contains(tok, "X-Amz-Signature=") {
		t.Fatalf("token %q", tok)
	}
}

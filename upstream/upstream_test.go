package upstream

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func TestRDSIAMTokenIsBuiltFromTheAWSChainAndNeedsTLS(t *testing.T) {
	// Static credentials through the default chain's environment provider:
	// presigning is local, no AWS endpoint is contacted.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	tgt := &config.Target{Name: "rds", Upstream: config.Upstream{
		Address: "db.example.internal:5432", User: "iam_user",
		AWSRDSIAM: &config.AWSRDSIAM{Region: "eu-west-1"},
		TLS:       config.UpstreamTLS{Mode: "require"},
	}}
	tok, err := Password(context.Background(), tgt.Upstream.Address, tgt.AccountFor("alice", nil), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"db.example.internal:5432?", "Action=connect", "DBUser=iam_user", "X-Amz-Signature=", "eu-west-1"} {
		if !strings.Contains(tok, want) {
			t.Fatalf("token lacks %q", want)
		}
	}
	if _, err := Password(context.Background(), tgt.Upstream.Address, tgt.AccountFor("alice", nil), false); !errors.Is(err, ErrIAMWithoutTLS) {
		t.Fatalf("want refusal without TLS, got %v", err)
	}
	static := &config.Target{Upstream: config.Upstream{Password: "pw"}}
	if pw, err := Password(context.Background(), "", static.AccountFor("alice", nil), false); err != nil || pw != "pw" {
		t.Fatalf("static password: %q %v", pw, err)
	}
}

func TestTLSModes(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		wantNil  bool
		insecure bool
	}{{"", true, false}, {"disable", true, false}, {"require", false, true}, {"verify-full", false, false}} {
		tgt := &config.Target{Name: "x", Upstream: config.Upstream{TLS: config.UpstreamTLS{Mode: tc.mode}}}
		c, err := TLSConfig(tgt, "db")
		if err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		if (c == nil) != tc.wantNil || (c != nil && c.InsecureSkipVerify != tc.insecure) {
			t.Fatalf("%s: got %+v", tc.mode, c)
		}
	}
	named := &config.Target{Name: "x", Upstream: config.Upstream{TLS: config.UpstreamTLS{Mode: "verify-full", ServerName: "db.internal"}}}
	if c, _ := TLSConfig(named, "10.0.0.5"); c.ServerName != "db.internal" {
		t.Fatalf("server_name not used: %q", c.ServerName)
	}
	bad := &config.Target{Name: "x", Upstream: config.Upstream{TLS: config.UpstreamTLS{Mode: "verify-full", CAFile: "/nonexistent"}}}
	if _, err := TLSConfig(bad, "db"); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("missing CA file: %v", err)
	}
}

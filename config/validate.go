package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults applied by Validate.
const (
	DefaultApprovalTimeout  = 10 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConnections   = 10000
	DefaultMaxMessageBytes  = 64 << 20
	DefaultFlushInterval    = time.Second
	DefaultConnectTimeout   = 10 * time.Second
)

var (
	validProtocols  = []string{"postgres", "mysql", "ssh", "command"}
	validActions    = []string{"allow", "block", "review"}
	validTLSModes   = []string{"", "disable", "require", "verify-full"}
	validMaskMethod = []string{"redact", "partial", "hash", "null", "email"}
	validDetectors  = []string{"email", "credit_card", "aws_access_key", "aws_secret_key", "private_key", "jwt", "iban"}
	namePattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
)

func (c *Config) errf(key, format string, args ...any) error {
	return &Error{File: c.path, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// MinSealKeyLen is the shortest recording.seal_key accepted.
const MinSealKeyLen = 16

// Validate fills defaults and checks the config. It is the one place that
// knows what a complete config looks like.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		c.DataDir = "./sluice-data"
	}
	if c.Approvals.Timeout.Duration == 0 {
		c.Approvals.Timeout.Duration = DefaultApprovalTimeout
	}
	if c.Limits.HandshakeTimeout.Duration == 0 {
		c.Limits.HandshakeTimeout.Duration = DefaultHandshakeTimeout
	}
	if c.Limits.MaxConnections == 0 {
		c.Limits.MaxConnections = DefaultMaxConnections
	}
	if c.Limits.MaxMessageBytes == 0 {
		c.Limits.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Recording.FlushInterval.Duration == 0 {
		c.Recording.FlushInterval.Duration = DefaultFlushInterval
	}
	if k := c.Recording.SealKey.Reveal(); k != "" && len(k) < MinSealKeyLen {
		return c.errf("recording.seal_key", "must be at least %d characters", MinSealKeyLen)
	}
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			return c.errf("admin.listen", "%q is not host:port", c.Admin.Listen)
		}
		if c.Admin.Token == "" {
			return c.errf("admin.token", "the admin API needs a token (set admin.token)")
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return c.errf("tls", "cert_file and key_file go together")
	}

	seen := map[string]bool{}
	for i := range c.Identities {
		id := &c.Identities[i]
		key := fmt.Sprintf("identities[%d]", i)
		if !namePattern.MatchString(id.Name) {
			return c.errf(key+".name", "%q is not a valid identity name", id.Name)
		}
		if seen[id.Name] {
			return c.errf(key+".name", "identity %q is listed twice", id.Name)
		}
		seen[id.Name] = true
		if id.Token != "" && id.TokenSHA256 != "" {
			return c.errf(key, "set token or token_sha256, not both")
		}
		if id.TokenSHA256 != "" {
			if b, err := hex.DecodeString(id.TokenSHA256); err != nil || len(b) != 32 {
				return c.errf(key+".token_sha256", "must be 64 hex characters (sha256 of the token)")
			}
		}
		for j, k := range id.SSHKeys {
			if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
				return c.errf(fmt.Sprintf("%s.ssh_keys[%d]", key, j), "not an authorized_keys line: %v", err)
			}
		}
		if id.Kind == "" {
			id.Kind = "person"
		}
		if id.Kind != "person" && id.Kind != "service" {
			return c.errf(key+".kind", "%q is not person or service", id.Kind)
		}
	}

	for i, k := range c.Identity.SSHUserCA {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			return c.errf(fmt.Sprintf("identity.ssh_user_ca[%d]", i), "not a public key line: %v", err)
		}
	}

	for name, p := range c.Policies {
		if err := c.validatePolicy(name, &p); err != nil {
			return err
		}
		c.Policies[name] = p
	}

	names := map[string]bool{}
	listens := map[string]string{}
	for i := range c.Targets {
		t := &c.Targets[i]
		key := fmt.Sprintf("targets[%d]", i)
		if t.Recording != nil && t.Recording.SealKey != "" {
			return c.errf(key+".recording.seal_key", "the seal key is gateway-wide: set it in the top-level recording section")
		}
		if !namePattern.MatchString(t.Name) {
			return c.errf(key+".name", "%q is not a valid target name", t.Name)
		}
		if names[t.Name] {
			return c.errf(key+".name", "target %q is listed twice", t.Name)
		}
		names[t.Name] = true
		if !slices.Contains(validProtocols, t.Protocol) {
			return c.errf(key+".protocol", "%q is not one of postgres, mysql, ssh, command", t.Protocol)
		}
		if t.Policy != "" {
			if _, ok := c.Policies[t.Policy]; !ok {
				return c.errf(key+".policy", "policy %q is not defined under policies", t.Policy)
			}
		}
		if t.Upstream.ConnectTimeout.Duration == 0 {
			t.Upstream.ConnectTimeout.Duration = DefaultConnectTimeout
		}
		switch t.Protocol {
		case "postgres", "mysql":
			if t.Listen == "" {
				return c.errf(key+".listen", "a %s target needs its own listen address", t.Protocol)
			}
			if prev, ok := listens[t.Listen]; ok {
				return c.errf(key+".listen", "%s is already used by target %q", t.Listen, prev)
			}
			listens[t.Listen] = t.Name
			if t.Upstream.Address == "" {
				return c.errf(key+".upstream.address", "required")
			}
			if t.Upstream.User == "" {
				return c.errf(key+".upstream.user", "required")
			}
			if !slices.Contains(validTLSModes, t.Upstream.TLS.Mode) {
				return c.errf(key+".upstream.tls.mode", "%q is not disable, require or verify-full", t.Upstream.TLS.Mode)
			}
			if t.Upstream.TLS.Mode == "" {
				t.Upstream.TLS.Mode = "disable"
			}
			if err := c.validateAccount(key+".upstream", t.Upstream.TLS.Mode, t.Upstream.Password, t.Upstream.AWSRDSIAM); err != nil {
				return err
			}
			for j, a := range t.Upstream.Accounts {
				ak := fmt.Sprintf("%s.upstream.accounts[%d]", key, j)
				if a.KeyFile != "" {
					return c.errf(ak+".key_file", "is for ssh targets (a database account has a password or aws_rds_iam)")
				}
				if err := c.validateAccount(ak, t.Upstream.TLS.Mode, a.Password, a.AWSRDSIAM); err != nil {
					return err
				}
			}
		case "ssh":
			for j, a := range t.Upstream.Accounts {
				if a.Password != "" || a.AWSRDSIAM != nil {
					return c.errf(fmt.Sprintf("%s.upstream.accounts[%d]", key, j), "an ssh account has a user and a key_file (default: the target's), no password")
				}
			}
		case "command":
			if len(t.Upstream.Accounts) > 0 {
				return c.errf(key+".upstream.accounts", "a command target has no upstream account")
			}
		}
		for j, a := range t.Upstream.Accounts {
			ak := fmt.Sprintf("%s.upstream.accounts[%d]", key, j)
			if a.User == "" {
				return c.errf(ak+".user", "required")
			}
			if len(a.Identities) == 0 && len(a.Groups) == 0 {
				return c.errf(ak, "name the identities or groups that use this account")
			}
		}
		switch t.Protocol {
		case "ssh":
			for _, f := range [][2]string{{"address", t.Upstream.Address}, {"user", t.Upstream.User}, {"key_file", t.Upstream.KeyFile}, {"known_hosts", t.Upstream.KnownHosts}} {
				if f[1] == "" {
					return c.errf(key+".upstream."+f[0], "required for an ssh target (the host key is always checked: no insecure mode)")
				}
			}
		case "command":
			if len(t.Command) == 0 {
				return c.errf(key+".command", "a command target needs a command")
			}
		}
		if t.Listen != "" {
			if _, _, err := net.SplitHostPort(t.Listen); err != nil {
				return c.errf(key+".listen", "%q is not host:port", t.Listen)
			}
		}
	}
	return nil
}

// validateAccount checks one upstream account's credentials: a password
// or an RDS IAM token, the token only over TLS.
func (c *Config) validateAccount(key, tlsMode string, password Secret, iam *AWSRDSIAM) error {
	if iam == nil {
		return nil
	}
	if password != "" {
		return c.errf(key, "set password or aws_rds_iam, not both")
	}
	if tlsMode == "disable" {
		return c.errf(key+".aws_rds_iam", "aws_rds_iam sends a token and needs TLS (upstream.tls.mode require or verify-full)")
	}
	if iam.Region == "" {
		return c.errf(key+".aws_rds_iam.region", "required")
	}
	return nil
}

// oneOf checks a two-valued setting, filling in def (the first) when it
// is empty.
func (c *Config) oneOf(key string, v *string, def, other string) error {
	switch *v {
	case "":
		*v = def
	case def, other:
	default:
		return c.errf(key, "%q is not %s or %s", *v, def, other)
	}
	return nil
}

func (c *Config) validatePolicy(name string, p *Policy) error {
	key := "policies." + name
	if err := c.oneOf(key+".default", &p.Default, "allow", "block"); err != nil {
		return err
	}
	if p.Unparseable != "" && !slices.Contains(validActions, p.Unparseable) {
		return c.errf(key+".unparseable", "%q is not allow, block or review", p.Unparseable)
	}
	if err := c.oneOf(key+".lineage", &p.Lineage, "mask", "block"); err != nil {
		return err
	}
	if err := c.oneOf(key+".masked_filters", &p.MaskedFilters, "allow", "block"); err != nil {
		return err
	}
	for i, r := range p.Rules {
		rk := fmt.Sprintf("%s.rules[%d]", key, i)
		if r.Name == "" {
			return c.errf(rk+".name", "every rule needs a name (it is shown to clients and recorded)")
		}
		if !slices.Contains(validActions, r.Action) {
			return c.errf(rk+".action", "%q is not allow, block or review", r.Action)
		}
		if r.When.Regex != "" {
			if _, err := regexp.Compile(r.When.Regex); err != nil {
				return c.errf(rk+".when.regex", "%v", err)
			}
		}
	}
	for i, m := range p.Masks {
		mk := fmt.Sprintf("%s.masks[%d]", key, i)
		if len(m.Columns) == 0 && len(m.Detect) == 0 {
			return c.errf(mk, "a mask needs columns or detect")
		}
		if !slices.Contains(validMaskMethod, m.Method) {
			return c.errf(mk+".method", "%q is not redact, partial, hash, null or email", m.Method)
		}
		for _, d := range m.Detect {
			if !slices.Contains(validDetectors, d) {
				return c.errf(mk+".detect", "unknown detector %q (known: %v)", d, validDetectors)
			}
		}
		if m.Method == "partial" && m.Keep == 0 {
			p.Masks[i].Keep = 4
		}
	}
	return nil
}

// Target returns the target with the given name.
func (c *Config) Target(name string) (*Target, bool) {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i], true
		}
	}
	return nil, false
}

// RecordingFor is the effective recording setting of a target.
func (c *Config) RecordingFor(t *Target) Recording {
	if t != nil && t.Recording != nil {
		r := *t.Recording
		if r.FlushInterval.Duration == 0 {
			r.FlushInterval = c.Recording.FlushInterval
		}
		return r
	}
	return c.Recording
}

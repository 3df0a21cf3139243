// Package config loads and validates the gateway's YAML configuration.
//
// Loading is strict: `${ENV}` references in scalar values are expanded,
// every key must be known (an unknown key is an error naming the key and its
// line), and Validate fills defaults and checks cross references in one place.
package config

import (
	"slices"
	"time"
)

// Config is the whole gateway configuration (the contract in DESIGN.md).
type Config struct {
	DataDir    string            `yaml:"data_dir"`
	Admin      Admin             `yaml:"admin"`
	Identities []Identity        `yaml:"identities"`
	Identity   IdentitySources   `yaml:"identity"`
	Targets    []Target          `yaml:"targets"`
	SSH        SSH               `yaml:"ssh"`
	Policies   map[string]Policy `yaml:"policies"`
	Approvals  Approvals         `yaml:"approvals"`
	Recording  Recording         `yaml:"recording"`
	TLS        ServerTLS         `yaml:"tls"`
	Limits     Limits            `yaml:"limits"`

	// path is the file the config was loaded from (for error messages).
	path string
}

// Path is the file this config was loaded from, or "" when built in code.
func (c *Config) Path() string { return c.path }

// Admin is the HTTP admin API listener.
type Admin struct {
	Listen string `yaml:"listen"`
	Token  Secret `yaml:"token"`
}

// Identity is a static identity: a person or a service account.
type Identity struct {
	Name        string   `yaml:"name"`
	Token       Secret   `yaml:"token"`
	TokenSHA256 string   `yaml:"token_sha256"`
	Groups      []string `yaml:"groups"`
	SSHKeys     []string `yaml:"ssh_keys"`
	Kind        string   `yaml:"kind"`    // person (default) | service
	Targets     []string `yaml:"targets"` // service accounts may be restricted to targets
}

// IdentitySources configures identities that are not listed statically.
type IdentitySources struct {
	OIDC                  []OIDCIssuer `yaml:"oidc"`
	TokenKey              Secret       `yaml:"token_key"`
	SSHUserCA             []string     `yaml:"ssh_user_ca"`
	MaxSessionAfterExpiry *Duration    `yaml:"max_session_after_expiry"`
}

// OIDCIssuer is one trusted OpenID Connect issuer.
type OIDCIssuer struct {
	Issuer      string `yaml:"issuer"`
	Audience    string `yaml:"audience"`
	NameClaim   string `yaml:"name_claim"`
	GroupsClaim string `yaml:"groups_claim"`
}

// Target is one upstream the gateway fronts.
type Target struct {
	Name     string            `yaml:"name"`
	Protocol string            `yaml:"protocol"` // postgres | mysql | ssh | command
	Listen   string            `yaml:"listen"`
	Policy   string            `yaml:"policy"`
	Allow    *Allow            `yaml:"allow"`
	Upstream Upstream          `yaml:"upstream"`
	Command  []string          `yaml:"command"`
	Env      map[string]string `yaml:"env"`
	RunAs    string            `yaml:"run_as"`
	// Recording overrides the global recording settings for this target.
	Recording *Recording `yaml:"recording"`
}

// Allow restricts who may connect to a target.
type Allow struct {
	Groups     []string `yaml:"groups"`
	Identities []string `yaml:"identities"`
}

// Upstream holds how the gateway reaches a target with its own credentials.
type Upstream struct {
	Address        string      `yaml:"address"`
	User           string      `yaml:"user"`
	Password       Secret      `yaml:"password"`
	AWSRDSIAM      *AWSRDSIAM  `yaml:"aws_rds_iam"`
	Database       string      `yaml:"database"`
	TLS            UpstreamTLS `yaml:"tls"`
	KeyFile        string      `yaml:"key_file"`
	KnownHosts     string      `yaml:"known_hosts"`
	ConnectTimeout Duration    `yaml:"connect_timeout"`
	// Accounts give some identities another upstream account than the
	// target's user (and password or key): first match wins.
	Accounts []UpstreamAccount `yaml:"accounts"`
}

// UpstreamAccount is an upstream database account for the identities it
// names or the members of the groups it names.
type UpstreamAccount struct {
	Identities []string   `yaml:"identities"`
	Groups     []string   `yaml:"groups"`
	User       string     `yaml:"user"`
	Password   Secret     `yaml:"password"`
	AWSRDSIAM  *AWSRDSIAM `yaml:"aws_rds_iam"`
	KeyFile    string     `yaml:"key_file"` // ssh targets; default: upstream.key_file
}

// Account is the upstream account a session dials with.
type Account struct {
	User      string
	Password  Secret
	AWSRDSIAM *AWSRDSIAM
	KeyFile   string // ssh targets
}

// AccountFor is the upstream account for an identity with groups: the
// first of upstream.accounts that names the identity or one of its
// groups, else upstream.user with its password, RDS IAM token or key.
func (t *Target) AccountFor(identity string, groups []string) Account {
	for _, a := range t.Upstream.Accounts {
		if slices.Contains(a.Identities, identity) || slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(a.Groups, g) }) {
			keyFile := a.KeyFile
			if keyFile == "" {
				keyFile = t.Upstream.KeyFile
			}
			return Account{User: a.User, Password: a.Password, AWSRDSIAM: a.AWSRDSIAM, KeyFile: keyFile}
		}
	}
	return Account{User: t.Upstream.User, Password: t.Upstream.Password, AWSRDSIAM: t.Upstream.AWSRDSIAM, KeyFile: t.Upstream.KeyFile}
}

// AWSRDSIAM asks for an RDS IAM auth token instead of a static password.
type AWSRDSIAM struct {
	Region string `yaml:"region"`
}

// UpstreamTLS is how the gateway secures its upstream leg.
type UpstreamTLS struct {
	Mode       string `yaml:"mode"` // disable | require | verify-full
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// ServerTLS is the certificate the gateway presents to database clients.
// When both files are empty a self-signed certificate is generated in
// data_dir on first start.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// SSH is the gateway's SSH listener.
type SSH struct {
	Listen  string `yaml:"listen"`
	HostKey string `yaml:"host_key"`
}

// Policy is a named set of rules and masks.
type Policy struct {
	Default     string `yaml:"default"`     // allow (default) | block
	Unparseable string `yaml:"unparseable"` // allow | block | review; default depends on rules
	Lineage     string `yaml:"lineage"`     // mask (default) | block: when lineage is unknown
	// MaskedFilters: allow (default) | block statements that filter, join,
	// group or sort on a masked column (probing its values).
	MaskedFilters string `yaml:"masked_filters"`
	HashKey       Secret `yaml:"hash_key"` // key for the hash mask method
	Rules         []Rule `yaml:"rules"`
	Masks         []Mask `yaml:"masks"`
}

// Rule is one ordered policy rule; the first match wins.
type Rule struct {
	Name    string `yaml:"name"`
	When    When   `yaml:"when"`
	Action  string `yaml:"action"` // allow | block | review
	Message string `yaml:"message"`
}

// When is the match part of a rule. Every set field must match.
type When struct {
	Targets      []string   `yaml:"targets"`
	Identities   []string   `yaml:"identities"`
	Groups       []string   `yaml:"groups"`
	SQL          []string   `yaml:"sql"`
	WithoutWhere bool       `yaml:"without_where"`
	Tables       []string   `yaml:"tables"`
	Functions    []string   `yaml:"functions"`
	CopyProgram  bool       `yaml:"copy_program"`
	Regex        string     `yaml:"regex"`
	Command      StringList `yaml:"command"`
	// Forward matches SSH port-forward destinations ("db.internal:5432",
	// "10.0.0.*:443"); forwarding is denied unless such a rule allows it.
	Forward StringList `yaml:"forward"`
}

// Mask is a column or content mask.
type Mask struct {
	Columns []string `yaml:"columns"`
	Detect  []string `yaml:"detect"`
	Method  string   `yaml:"method"` // redact | partial | hash | null | email
	Keep    int      `yaml:"keep"`   // partial: characters kept at the end (default 4)
}

// Approvals configures the review broker.
type Approvals struct {
	Timeout           Duration  `yaml:"timeout"`
	Reviewers         Reviewers `yaml:"reviewers"`
	Webhook           string    `yaml:"webhook"`
	AllowSelfApproval bool      `yaml:"allow_self_approval"`
}

// Reviewers limits who may decide approvals.
type Reviewers struct {
	Groups     []string `yaml:"groups"`
	Identities []string `yaml:"identities"`
}

// Recording configures what is kept of each session.
type Recording struct {
	// OmitParams drops bind parameters from the query log.
	OmitParams bool `yaml:"omit_params"`
	// FailOpen lets a session continue when its recording cannot be written.
	// The default is fail closed: the session is refused or ended.
	FailOpen bool `yaml:"fail_open"`
	// RecordInput records terminal input ("i" events). Off by default: input holds passwords.
	RecordInput bool `yaml:"record_input"`
	// FlushInterval bounds what a crash can lose (default 1s).
	FlushInterval Duration `yaml:"flush_interval"`
	// SealKey, when set, authenticates each record's seal with HMAC-SHA256,
	// so that rewriting a record and its unkeyed hash chain is detected by
	// `sluice verify` given the key. Gateway-wide: top-level recording only.
	SealKey Secret `yaml:"seal_key"`
}

// Limits are listener-level protections.
type Limits struct {
	MaxConnections   int      `yaml:"max_connections"`
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	MaxMessageBytes  int      `yaml:"max_message_bytes"`
}

// Duration is a time.Duration written as "10m" in YAML.
type Duration struct{ time.Duration }

// Secret is a string that never prints itself.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret in %#v.
func (s Secret) GoString() string { return s.String() }

// Reveal returns the secret value. Call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

// StringList accepts a single string or a list of strings.
type StringList []string

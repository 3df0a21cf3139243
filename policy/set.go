package policy

import (
	"github.com/sluice-gw/sluice/config"
)

// Set holds the compiled policy of every target.
type Set struct {
	byTarget map[string]*Policy
}

// Policy is one compiled named policy.
type Policy struct {
	name string
}

// NewSet compiles the policies named by targets.
// TEMPORARY: allow-all until the policy core lands (issue 3).
func NewSet(cfg *config.Config) (*Set, error) {
	s := &Set{byTarget: map[string]*Policy{}}
	for _, t := range cfg.Targets {
		if t.Policy != "" {
			s.byTarget[t.Name] = &Policy{name: t.Policy}
		}
	}
	return s, nil
}

// For returns the policy for a target; nil means allow all.
func (s *Set) For(target string) *Policy {
	if s == nil {
		return nil
	}
	return s.byTarget[target]
}

// CheckSQL judges a SQL text (possibly several statements).
func (p *Policy) CheckSQL(d Dialect, sub Subject, sql string) Decision {
	return Decision{Action: Allow}
}

// ResultMask is a statement's masking plan.
type ResultMask struct{}

// Columns binds the plan to the result's columns.
func (m *ResultMask) Columns(fields []Field) *RowMasker { return nil }

// RowMasker masks rows of one result set.
type RowMasker struct{}

// MaskRow masks values in place and returns the names of masked columns.
func (r *RowMasker) MaskRow(values [][]byte) []string { return nil }

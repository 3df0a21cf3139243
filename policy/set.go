package policy

import (
	"fmt"

	"github.com/sluice-gw/sluice/config"
)

// Set holds the compiled policy of every target.
type Set struct {
	byTarget map[string]*Policy
}

// NewSet compiles every policy named by a target (each policy once, shared
// by its targets, so they share one decision cache). A config error names the
// key at fault.
func NewSet(cfg *config.Config) (*Set, error) {
	s := &Set{byTarget: map[string]*Policy{}}
	compiled := map[string]*Policy{}
	for i, t := range cfg.Targets {
		if t.Policy == "" {
			continue
		}
		p, ok := compiled[t.Policy]
		if !ok {
			pc, found := cfg.Policies[t.Policy]
			if !found {
				return nil, fmt.Errorf("targets[%d].policy: policy %q is not defined under policies", i, t.Policy)
			}
			var err error
			if p, err = compilePolicy(t.Policy, pc); err != nil {
				return nil, err
			}
			compiled[t.Policy] = p
		}
		s.byTarget[t.Name] = p
	}
	return s, nil
}

// For returns the policy for a target; nil means allow all, mask nothing.
func (s *Set) For(target string) *Policy {
	if s == nil {
		return nil
	}
	return s.byTarget[target]
}

// Name is the policy's name in the config ("" for nil: no policy).
func (p *Policy) Name() string {
	if p == nil {
		return ""
	}
	return p.name
}

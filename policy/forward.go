package policy

import (
	"fmt"
	"net"
	"path"
	"strings"
)

// forwardRule is a rule with a `forward` condition: SSH port-forward
// destinations as host:port globs.
type forwardRule struct {
	r        *rule
	patterns [][2]string // host glob, port glob
}

func compileForward(key string, r *rule, pats []string) (forwardRule, error) {
	fr := forwardRule{r: r}
	for i, p := range pats {
		host, port, err := net.SplitHostPort(strings.TrimSpace(p))
		if err != nil || host == "" || port == "" {
			return fr, fmt.Errorf("%s[%d]: %q is not host:port (globs allowed: \"db.internal:5432\", \"10.0.0.*:*\")", key, i, p)
		}
		for _, g := range []string{host, port} {
			if _, err := path.Match(g, ""); err != nil {
				return fr, fmt.Errorf("%s[%d]: bad glob %q: %w", key, i, g, err)
			}
		}
		fr.patterns = append(fr.patterns, [2]string{strings.ToLower(host), port})
	}
	return fr, nil
}

func (fr *forwardRule) matches(host, port string) bool {
	for _, p := range fr.patterns {
		hm, _ := path.Match(p[0], host)
		pm, _ := path.Match(p[1], port)
		if hm && pm {
			return true
		}
	}
	return false
}

// CheckForward judges an SSH port-forward (direct-tcpip) to dest
// ("host:port"). Forwarding opens a network path the session recording
// cannot see into, so it is denied unless a rule with a matching `forward`
// condition allows it (or holds it for review); the policy's default does
// not apply. A nil policy denies.
func (p *Policy) CheckForward(sub Subject, dest string) Decision {
	deny := Decision{Action: Block, Rule: "no-forwarding",
		Message: fmt.Sprintf("port forwarding is not allowed to %s: no policy rule allows this destination", dest)}
	host, port, err := net.SplitHostPort(dest)
	if p == nil || err != nil {
		return deny
	}
	host = strings.ToLower(host)
	for i := range p.forwards {
		fr := &p.forwards[i]
		if !fr.r.matchSubject(&sub) || !fr.matches(host, port) {
			continue
		}
		d := Decision{Action: fr.r.action, Rule: fr.r.name, Message: fr.r.message}
		if d.Message == "" && d.Action == Block {
			d.Message = fmt.Sprintf("port forwarding to %s blocked by rule %q", dest, fr.r.name)
		}
		return d
	}
	return deny
}

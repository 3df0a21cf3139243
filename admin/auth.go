package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/sluice-gw/sluice/identity"
)

// principal is who is calling the admin API.
type principal struct {
	// admin is the admin token: may do everything, names reviewers with "as".
	admin bool
	// id is the gateway identity behind HTTP Basic credentials.
	id *identity.Identity
}

// errUnauthenticated is the one answer to every failed authentication: it does
// not say which part was wrong.
const errUnauthenticated = "authentication required: Authorization: Bearer <admin token | OIDC token | gateway token>, or HTTP Basic <identity>:<token>"

// authenticate resolves the caller, or nil when the credentials are missing or wrong.
func (s *server) authenticate(r *http.Request) *principal {
	h := r.Header.Get("Authorization")
	if tok, ok := cutPrefixFold(h, "Bearer "); ok {
		tok = strings.TrimSpace(tok)
		if s.isAdminToken(tok) {
			return &principal{admin: true}
		}
		// An OIDC JWT or a gateway-issued token names its own identity.
		if s.auth != nil {
			if id, err := s.auth.Bearer(identity.ContextWithClientAddr(r.Context(), r.RemoteAddr), tok); err == nil {
				return &principal{id: id}
			}
		}
		return nil
	}
	if name, secret, ok := r.BasicAuth(); ok && s.auth != nil {
		id, err := s.auth.Password(identity.ContextWithClientAddr(r.Context(), r.RemoteAddr), name, secret)
		if err != nil {
			return nil
		}
		return &principal{id: id}
	}
	return nil
}

// isAdminToken compares in constant time over hashes (equal lengths whatever
// was presented). An unset admin token matches nothing.
func (s *server) isAdminToken(tok string) bool {
	if !s.hasAdminToken || tok == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], s.adminTokenHash[:]) == 1
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// mayReadSessions: the admin token, or an identity that is an approvals
// reviewer (reviewers need the session's context to decide). With no
// reviewers configured, only the admin token.
func (s *server) mayReadSessions(p *principal) bool {
	if p.admin {
		return true
	}
	rv := s.reviewers
	if len(rv.Groups) == 0 && len(rv.Identities) == 0 {
		return false
	}
	if slices.Contains(rv.Identities, p.id.Name) {
		return true
	}
	return slices.ContainsFunc(p.id.Groups, func(g string) bool { return slices.Contains(rv.Groups, g) })
}

package identity

import (
	"errors"
	"fmt"
	"time"
)

// Refusals an engine may show to the client as they are: their text says
// what happened without internal detail and never contains a secret.
var (
	// ErrTokenExpired refuses a gateway token or OIDC token past its exp.
	ErrTokenExpired = errors.New("token expired: issue a new one (sluice token issue) or sign in to your identity provider again")
	// ErrTokenRevoked refuses a gateway token whose id was revoked.
	ErrTokenRevoked = errors.New("token revoked: ask for a new one")
	// ErrCertificateExpired refuses an SSH certificate outside its validity window.
	ErrCertificateExpired = errors.New("ssh certificate expired or not yet valid: get a new one from your certificate authority")
	// ErrRateLimited refuses an attempt made while failures are backing off.
	// The concrete error is a *RateLimitedError saying how long to wait.
	ErrRateLimited = errors.New("too many failed authentication attempts")
	// ErrIdentityProviderUnavailable: the OIDC issuer's discovery document
	// could not be fetched (yet). Retried on later attempts.
	ErrIdentityProviderUnavailable = errors.New("identity provider unavailable: try again shortly")
)

// RateLimitedError is an attempt refused by the failed-auth backoff without
// looking at the secret. errors.Is(err, ErrRateLimited) holds.
type RateLimitedError struct {
	// Wait is how long until the next attempt will be considered.
	Wait time.Duration
}

func (e *RateLimitedError) Error() string {
	w := e.Wait.Round(time.Second)
	if w < time.Second {
		w = time.Second
	}
	return fmt.Sprintf("%v: wait %v before trying again", ErrRateLimited, w)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// refusal is a failed authentication: public is what the client may be told
// (one of the Err values above), detail is why, for the audit log only.
type refusal struct {
	public error
	detail string
}

func (r *refusal) Error() string { return r.public.Error() }
func (r *refusal) Unwrap() error { return r.public }

// refuse builds a refusal; the detail must not contain the secret.
func refuse(public error, format string, args ...any) error {
	return &refusal{public: public, detail: fmt.Sprintf(format, args...)}
}

// detailOf is the internal reason behind err, for the audit log.
func detailOf(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.detail
	}
	return err.Error()
}

// PublicMessage is the client-safe text of a refusal worth showing as it is
// (expired, revoked, rate limited, identity provider down), or "" when the
// client should get the protocol's generic authentication failure.
func PublicMessage(err error) string {
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		return rl.Error()
	}
	for _, pub := range []error{ErrTokenExpired, ErrTokenRevoked, ErrCertificateExpired, ErrIdentityProviderUnavailable} {
		if errors.Is(err, pub) {
			return pub.Error()
		}
	}
	return ""
}

package identity

import (
	"context"
	"errors"
	"log/slog"
)

type clientAddrKey struct{}

// ContextWithClientAddr tells the Authenticator which client address an
// attempt comes from (net.Conn.RemoteAddr().String(); the port is ignored).
// Password, Bearer, SSHCertificateContext and Throttle read it to rate-limit
// failures per address and to name the address in audit events. Without it
// only the per-name limit applies.
func ContextWithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr is the address set by ContextWithClientAddr, or "".
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

// attempt runs one authentication under the failed-auth rate limit: a
// limited attempt is refused before check runs (so the secret is never
// looked at), a failure is counted and written as an audit event.
func (a *Authenticator) attempt(ctx context.Context, user, method string, check func() (*Identity, error)) (*Identity, error) {
	if err := a.Throttle(ctx, user); err != nil {
		return nil, err
	}
	id, err := check()
	if err != nil {
		a.Failed(ctx, user, method, err)
		return nil, err
	}
	a.limiter.succeed(user)
	return id, nil
}

// Throttle refuses with a *RateLimitedError when the client address (from
// ctx) or user is backing off after failures. Engines that verify a secret
// themselves (SCRAM, mysql_native_password) call it before the exchange and
// report the outcome with Failed or Succeeded.
func (a *Authenticator) Throttle(ctx context.Context, user string) error {
	keys := limitKeys(ClientAddr(ctx), user)
	if w := a.limiter.wait(keys); w > 0 {
		err := &RateLimitedError{Wait: w}
		a.audit(ctx, "auth_rate_limited", user, "", err)
		return err
	}
	return nil
}

// Failed counts a failed attempt for the client address and user and logs
// it as an audit event. reason is logged (never a secret: callers pass
// errors from this package or their own protocol errors).
func (a *Authenticator) Failed(ctx context.Context, user, method string, reason error) {
	if errors.Is(reason, ErrRateLimited) {
		return
	}
	a.limiter.fail(limitKeys(ClientAddr(ctx), user))
	a.audit(ctx, "auth_failure", user, method, reason)
}

// Succeeded clears the per-name failure count after a protocol verified
// the secret itself.
func (a *Authenticator) Succeeded(user string) { a.limiter.succeed(user) }

// maxLoggedName bounds a presented name in logs: clients sometimes paste a
// token into the user field, and a long value is more likely to be one.
const maxLoggedName = 64

func (a *Authenticator) audit(ctx context.Context, event, user, method string, reason error) {
	if len(user) > maxLoggedName {
		user = user[:maxLoggedName] + "…"
	}
	attrs := []slog.Attr{
		slog.String("event", event),
		slog.String("identity", user),
		slog.String("client", ClientAddr(ctx)),
	}
	if method != "" {
		attrs = append(attrs, slog.String("method", method))
	}
	if reason != nil {
		attrs = append(attrs, slog.String("reason", detailOf(reason)))
	}
	a.log.LogAttrs(ctx, slog.LevelWarn, "authentication refused", attrs...)
}

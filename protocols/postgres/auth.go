package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/xdg-go/scram"

	"github.com/sluice-gw/sluice/identity"
)

const scramMechanism = "SCRAM-SHA-256"

// scramIterations matches Postgres' default scram_iterations.
const scramIterations = 4096

// scramVerifiers derives and caches SCRAM verifiers for identities whose
// token the config holds in clear. Deriving costs a PBKDF2 run, so it is done
// once per identity and token.
type scramVerifiers struct {
	mu    sync.Mutex
	creds map[string]scramEntry
}

type scramEntry struct {
	token string
	cred  scram.StoredCredentials
}

func (v *scramVerifiers) lookup(user, token string) (scram.StoredCredentials, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.creds[user]; ok && e.token == token {
		return e.cred, nil
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return scram.StoredCredentials{}, err
	}
	client, err := scram.SHA256.NewClient(user, token, "")
	if err != nil {
		return scram.StoredCredentials{}, err
	}
	cred := client.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: scramIterations})
	if v.creds == nil {
		v.creds = map[string]scramEntry{}
	}
	v.creds[user] = scramEntry{token: token, cred: cred}
	return cred, nil
}

// authenticate runs client authentication for the startup user and returns
// the identity. Nothing upstream is touched here. SCRAM-SHA-256 is used when
// the config holds the identity's token; otherwise the token (or an OIDC
// JWT) is asked for in clear, which is only done inside TLS.
func (e *Engine) authenticate(ctx context.Context, be *pgproto3.Backend, flush func() error, user string, overTLS bool) (*identity.Identity, error) {
	if user == "" {
		return nil, fatal(codeInvalidAuthorization, "no user name given: use the Sluice identity name as the user", nil)
	}
	// SCRAM keeps the token off the wire. Inside TLS, when OIDC or gateway
	// tokens are configured, ask for the password instead: the client may
	// present a JWT or an issued token, which SCRAM cannot carry.
	if token, ok := e.deps.Auth.PlainToken(user); ok && !(overTLS && e.tokenSources) {
		return e.authSCRAM(ctx, be, flush, user, token)
	}
	if !overTLS {
		return nil, &clientError{severity: "FATAL", code: codeInvalidAuthorization,
			msg:  fmt.Sprintf("password authentication for %q requires TLS", user),
			hint: "connect with sslmode=require (the token is sent in clear inside TLS)"}
	}
	be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := flush(); err != nil {
		return nil, err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return nil, err
	}
	msg, err := be.Receive()
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return nil, fatal(codeProtocolViolation, fmt.Sprintf("expected password message, got %T", msg), nil)
	}
	id, err := e.deps.Auth.Password(ctx, user, pw.Password)
	if err != nil {
		return nil, authFailed(user, err)
	}
	return id, nil
}

// authFailed is what the client learns of a failed authentication: the
// identity package's public refusals (expired, revoked, rate limited) as
// they are, anything else as Postgres' own wording.
func authFailed(user string, err error) *clientError {
	switch {
	case errors.Is(err, identity.ErrRateLimited), errors.Is(err, identity.ErrIdentityProviderUnavailable):
		return fatal(codeInvalidAuthorization, "sluice: "+identity.PublicMessage(err), err)
	case errors.Is(err, identity.ErrTokenExpired), errors.Is(err, identity.ErrTokenRevoked):
		return fatal(codeInvalidPassword, "sluice: "+identity.PublicMessage(err), err)
	}
	return fatal(codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", user), err)
}

func (e *Engine) authSCRAM(ctx context.Context, be *pgproto3.Backend, flush func() error, user, token string) (*identity.Identity, error) {
	// The exchange checks the proof itself, so the rate limiter is consulted
	// and told here rather than inside Auth.Password.
	if err := e.deps.Auth.Throttle(ctx, user); err != nil {
		return nil, authFailed(user, err)
	}
	id, err := e.scramExchange(be, flush, user, token)
	if err != nil {
		var ce *clientError
		if errors.As(err, &ce) && ce.code == codeInvalidPassword {
			e.deps.Auth.Failed(ctx, user, "scram", err)
		}
		return nil, err
	}
	e.deps.Auth.Succeeded(user)
	return id, nil
}

func (e *Engine) scramExchange(be *pgproto3.Backend, flush func() error, user, token string) (*identity.Identity, error) {
	server, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) {
		// The SCRAM user name is empty in libpq's client-first message; the
		// startup packet's user is the one that counts.
		return e.scram.lookup(user, token)
	})
	if err != nil {
		return nil, err
	}
	conv := server.NewConversation()

	be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
	if err := flush(); err != nil {
		return nil, err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		return nil, err
	}
	msg, err := be.Receive()
	if err != nil {
		return nil, fmt.Errorf("reading SASLInitialResponse: %w", err)
	}
	init, ok := msg.(*pgproto3.SASLInitialResponse)
	if !ok || init.AuthMechanism != scramMechanism {
		return nil, fatal(codeProtocolViolation, "expected SASLInitialResponse for SCRAM-SHA-256", nil)
	}
	serverFirst, err := conv.Step(string(init.Data))
	if err != nil {
		return nil, authFailed(user, fmt.Errorf("scram client-first: %w", err))
	}
	be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if err := flush(); err != nil {
		return nil, err
	}
	if err := be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		return nil, err
	}
	msg, err = be.Receive()
	if err != nil {
		return nil, fmt.Errorf("reading SASLResponse: %w", err)
	}
	resp, ok := msg.(*pgproto3.SASLResponse)
	if !ok {
		return nil, fatal(codeProtocolViolation, "expected SASLResponse", nil)
	}
	serverFinal, err := conv.Step(string(resp.Data))
	if err != nil || !conv.Valid() {
		if err == nil {
			err = errors.New("scram proof invalid")
		}
		return nil, authFailed(user, err)
	}
	be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return e.deps.Auth.Verified(user, "scram")
}

package mysql

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluice-gw/sluice/identity"
)

// Auth-more-data markers of caching_sha2_password.
const (
	sha2FastAuthOK      = 0x03
	sha2PerformFullAuth = 0x04
	sha2RequestPubKey   = 0x02
	authMoreData        = 0x01
)

// rsaKeyPair is the key caching_sha2_password's full authentication uses
// over plain TCP. It is generated on first use, once per engine.
type rsaKeyPair struct {
	once   sync.Once
	key    *rsa.PrivateKey
	pubPEM []byte
	err    error
}

func (k *rsaKeyPair) get() (*rsa.PrivateKey, []byte, error) {
	k.once.Do(func() {
		k.key, k.err = rsa.GenerateKey(rand.Reader, 2048)
		if k.err != nil {
			return
		}
		der, err := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
		if err != nil {
			k.err = err
			return
		}
		k.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	})
	return k.key, k.pubPEM, k.err
}

// authenticate turns the client's handshake response into a Sluice
// identity. Nothing upstream is touched here.
//
// The identity's token is the MySQL password. When the config holds it in
// clear, mysql_native_password and caching_sha2_password's fast path verify
// the client's scramble against it; otherwise the client is switched to
// caching_sha2_password full authentication, which yields the token in
// clear (inside TLS, or RSA-encrypted over plain TCP) for deps.Auth to
// check. mysql_clear_password is accepted only inside TLS.
func (e *Engine) authenticate(ctx context.Context, cl *leg, hs *handshakeResponse, scramble []byte, overTLS bool, host string) (*identity.Identity, error) {
	user := hs.User
	if user == "" {
		return nil, accessDenied(user, host, errors.New("empty user name"))
	}
	token, plain := e.deps.Auth.PlainToken(user)
	plugin, data := hs.Plugin, hs.Auth
	if hs.Caps&gm.CLIENT_PLUGIN_AUTH == 0 {
		plugin = gm.AUTH_NATIVE_PASSWORD
	}

	usable := plugin == gm.AUTH_NATIVE_PASSWORD && plain || plugin == gm.AUTH_CLEAR_PASSWORD && overTLS
	if usable && len(data) == 0 && hs.Caps&gm.CLIENT_PLUGIN_AUTH != 0 {
		// libmariadb answers a greeting for another plugin with an empty
		// response and waits to be switched to its own: do so.
		if err := cl.writeFlush(appendAuthSwitch(nil, plugin, scramble)); err != nil {
			return nil, err
		}
		var err error
		if data, err = cl.r.Read(); err != nil {
			return nil, fmt.Errorf("reading auth switch response: %w", err)
		}
	}

	switch {
	case plugin == gm.AUTH_NATIVE_PASSWORD && plain:
		return e.checkScramble(ctx, user, host, data, gm.CalcNativePassword(scramble, []byte(token)))
	case plugin == gm.AUTH_CACHING_SHA2_PASSWORD && plain:
		id, err := e.checkScramble(ctx, user, host, data, gm.CalcCachingSha2Password(scramble, []byte(token)))
		if err != nil {
			return nil, err
		}
		return id, cl.writeFlush([]byte{authMoreData, sha2FastAuthOK})
	case plugin == gm.AUTH_CLEAR_PASSWORD && overTLS:
		return e.checkClear(ctx, user, host, bytes.TrimRight(data, "\x00"))
	case plugin == gm.AUTH_CACHING_SHA2_PASSWORD:
		return e.fullAuth(ctx, cl, user, host, scramble, overTLS)
	}

	// Any other plugin (or a hash we cannot check): switch to
	// caching_sha2_password, which every supported client speaks.
	if err := cl.writeFlush(appendAuthSwitch(nil, gm.AUTH_CACHING_SHA2_PASSWORD, scramble)); err != nil {
		return nil, err
	}
	resp, err := cl.r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading auth switch response: %w", err)
	}
	if plain {
		id, err := e.checkScramble(ctx, user, host, resp, gm.CalcCachingSha2Password(scramble, []byte(token)))
		if err != nil {
			return nil, err
		}
		return id, cl.writeFlush([]byte{authMoreData, sha2FastAuthOK})
	}
	return e.fullAuth(ctx, cl, user, host, scramble, overTLS)
}

// checkScramble verifies a challenge-response against the clear token. The
// identity package does not see the secret here, so the engine consults and
// informs its failed-auth limiter itself.
func (e *Engine) checkScramble(ctx context.Context, user, host string, got, want []byte) (*identity.Identity, error) {
	if err := e.deps.Auth.Throttle(ctx, user); err != nil {
		return nil, accessDenied(user, host, err)
	}
	if len(got) == 0 || subtle.ConstantTimeCompare(got, want) != 1 {
		e.deps.Auth.Failed(ctx, user, "mysql-scramble", identity.ErrBadCredentials)
		return nil, accessDenied(user, host, identity.ErrBadCredentials)
	}
	id, err := e.deps.Auth.Verified(user, "token")
	if err != nil {
		return nil, accessDenied(user, host, err)
	}
	e.deps.Auth.Succeeded(user)
	return id, nil
}

func (e *Engine) checkClear(ctx context.Context, user, host string, secret []byte) (*identity.Identity, error) {
	if len(secret) == 0 {
		return nil, accessDenied(user, host, errors.New("empty password"))
	}
	id, err := e.deps.Auth.Password(ctx, user, string(secret))
	if err != nil {
		return nil, accessDenied(user, host, err)
	}
	return id, nil
}

// fullAuth runs caching_sha2_password full authentication: the client sends
// its token in clear inside TLS, or asks for the gateway's RSA public key
// and sends it encrypted.
func (e *Engine) fullAuth(ctx context.Context, cl *leg, user, host string, scramble []byte, overTLS bool) (*identity.Identity, error) {
	if err := cl.writeFlush([]byte{authMoreData, sha2PerformFullAuth}); err != nil {
		return nil, err
	}
	p, err := cl.r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading full auth: %w", err)
	}
	if overTLS {
		return e.checkClear(ctx, user, host, bytes.TrimRight(p, "\x00"))
	}
	if len(p) != 1 || p[0] != sha2RequestPubKey {
		// A clear password over plain TCP: refuse without looking at it.
		return nil, fatalf(gm.ER_ACCESS_DENIED_ERROR, stateAccessDenied, errors.New("clear password outside TLS"),
			"Access denied for user '%s'@'%s': use TLS or let the client request the server's public key", user, host)
	}
	key, pub, err := e.rsa.get()
	if err != nil {
		return nil, fmt.Errorf("rsa key: %w", err)
	}
	if err := cl.writeFlush(append([]byte{authMoreData}, pub...)); err != nil {
		return nil, err
	}
	enc, err := cl.r.Read()
	if err != nil {
		return nil, fmt.Errorf("reading encrypted password: %w", err)
	}
	dec, err := rsa.DecryptOAEP(sha1.New(), nil, key, enc, nil)
	if err != nil {
		return nil, accessDenied(user, host, fmt.Errorf("rsa decrypt: %w", err))
	}
	// The client XORs password+NUL with the scramble, repeated.
	for i := range dec {
		dec[i] ^= scramble[i%len(scramble)]
	}
	return e.checkClear(ctx, user, host, bytes.TrimRight(dec, "\x00"))
}

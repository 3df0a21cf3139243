package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// OIDCProvider is a small but real OpenID Connect issuer for tests: it
// serves discovery (/.well-known/openid-configuration) and a JWKS over HTTP
// on a loopback port and signs ID tokens (RS256) with claims the test
// chooses. Keys can be rotated, and a new key can be used for signing before
// it is published, which is how a test shows "unknown key id, then valid
// after the JWKS refresh".
//
// It is written on go-jose rather than a full provider library because the
// gateway only consumes discovery, JWKS and signed tokens; there is no login
// flow to exercise.
type OIDCProvider struct {
	// Issuer is the issuer URL (http://127.0.0.1:PORT), the iss of every token.
	Issuer string

	srv  *http.Server
	done chan struct{}

	mu        sync.Mutex
	signing   jose.JSONWebKey   // private key tokens are signed with
	published []jose.JSONWebKey // public keys served in the JWKS

	down      atomic.Bool  // answer every request with 503, as an IdP outage
	jwksFetch atomic.Int64 // JWKS requests served, to show caching
}

// StartOIDC starts an issuer on 127.0.0.1:0 with one published signing key.
// Stop it with Close.
func StartOIDC() (*OIDCProvider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testenv: oidc listen: %w", err)
	}
	p := &OIDCProvider{Issuer: "http://" + ln.Addr().String(), done: make(chan struct{})}
	if _, err := p.Rotate(true); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	p.srv = &http.Server{Handler: p.outage(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(p.done)
		// Serve returns ErrServerClosed after Close; nothing else to report.
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Close stops the HTTP server and waits for it.
func (p *OIDCProvider) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	<-p.done
}

// SetDown makes the issuer answer 503 to everything (true) or serve again.
func (p *OIDCProvider) SetDown(down bool) { p.down.Store(down) }

// JWKSFetches is how many times the JWKS was served.
func (p *OIDCProvider) JWKSFetches() int64 { return p.jwksFetch.Load() }

// Rotate generates a new RSA key and signs every later token with it. With
// publish the key is added to the JWKS at once; otherwise call Publish later.
// Earlier keys stay published until DropOldKeys. It returns the new key id.
func (p *OIDCProvider) Rotate(publish bool) (string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("testenv: oidc key: %w", err)
	}
	kidBytes := make([]byte, 8)
	if _, err := rand.Read(kidBytes); err != nil {
		return "", err
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: hex.EncodeToString(kidBytes), Algorithm: string(jose.RS256), Use: "sig"}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signing = jwk
	if publish {
		p.published = append(p.published, jwk.Public())
	}
	return jwk.KeyID, nil
}

// Publish adds the current signing key to the JWKS (after Rotate(false)).
func (p *OIDCProvider) Publish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.published {
		if k.KeyID == p.signing.KeyID {
			return
		}
	}
	p.published = append(p.published, p.signing.Public())
}

// DropOldKeys removes every published key except the current signing key.
func (p *OIDCProvider) DropOldKeys() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = []jose.JSONWebKey{p.signing.Public()}
}

// Token signs claims as a JWT with the current key. iss and iat are filled
// in when absent; time.Time values are written as Unix seconds, so tests
// can say {"exp": time.Now().Add(time.Hour)}.
func (p *OIDCProvider) Token(claims map[string]any) (string, error) {
	c := make(map[string]any, len(claims)+2)
	c["iss"] = p.Issuer
	c["iat"] = time.Now().Unix()
	for k, v := range claims {
		if t, ok := v.(time.Time); ok {
			v = t.Unix()
		}
		c[k] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("testenv: oidc claims: %w", err)
	}
	p.mu.Lock()
	key := p.signing
	p.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.KeyID))
	if err != nil {
		return "", fmt.Errorf("testenv: oidc signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("testenv: oidc sign: %w", err)
	}
	return jws.CompactSerialize()
}

func (p *OIDCProvider) outage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "identity provider down (testenv)", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *OIDCProvider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                p.Issuer,
		"jwks_uri":                              p.Issuer + "/jwks",
		"authorization_endpoint":                p.Issuer + "/authorize",
		"token_endpoint":                        p.Issuer + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
	})
}

func (p *OIDCProvider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	p.jwksFetch.Add(1)
	p.mu.Lock()
	set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), p.published...)}
	p.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

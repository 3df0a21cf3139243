package testenv

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestOIDCProviderServesVerifiableTokens checks the issuer on its own terms:
// discovery names it and its JWKS, tokens verify against the published
// keys only, rotation and publication change the JWKS, outages answer 503.
func TestOIDCProviderServesVerifiableTokens(t *testing.T) {
	p, err := StartOIDC()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if code := getJSON(t, p.Issuer+"/.well-known/openid-configuration", &disc); code != 200 || disc.Issuer != p.Issuer || disc.JWKSURI != p.Issuer+"/jwks" {
		t.Fatalf("discovery %d %+v", code, disc)
	}
	jwks := func() jose.JSONWebKeySet {
		var set jose.JSONWebKeySet
		if code := getJSON(t, disc.JWKSURI, &set); code != 200 {
			t.Fatalf("jwks status %d", code)
		}
		return set
	}

	tok, err := p.Token(map[string]any{"sub": "dave", "exp": time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string, set jose.JSONWebKeySet) (map[string]any, bool) {
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) != 1 {
			return nil, false
		}
		payload, err := jws.Verify(keys[0])
		if err != nil {
			return nil, false
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		return c, true
	}
	c, ok := verify(tok, jwks())
	if !ok || c["iss"] != p.Issuer || c["sub"] != "dave" || c["exp"].(float64) < float64(time.Now().Unix()) {
		t.Fatalf("token claims %v (verified %v)", c, ok)
	}
	for _, k := range jwks().Keys {
		if !k.IsPublic() {
			t.Fatal("JWKS serves a private key")
		}
	}

	kid, err := p.Rotate(false)
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := p.Token(map[string]any{"sub": "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := verify(hidden, jwks()); ok {
		t.Fatal("token from an unpublished key verified")
	}
	p.Publish()
	if _, ok := verify(hidden, jwks()); !ok {
		t.Fatal("token does not verify after Publish")
	}
	p.DropOldKeys()
	if set := jwks(); len(set.Keys) != 1 || set.Keys[0].KeyID != kid {
		t.Fatalf("after DropOldKeys: %d keys", len(set.Keys))
	}
	if _, ok := verify(tok, jwks()); ok {
		t.Fatal("token of a dropped key still verifies")
	}

	p.SetDown(true)
	resp, err := http.Get(disc.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Fatalf("down: status %d", resp.StatusCode)
	}
}

package token

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

const canarySecret = "secret-canary-81d2"

// tokenServer is a fake Entra: OpenID discovery for MSAL and a token
// endpoint that counts requests.
type tokenServer struct {
	*httptest.Server
	tenant   string
	requests atomic.Int32
	handle   func(w http.ResponseWriter, form map[string][]string)
	mu       sync.Mutex
	forms    []map[string][]string
}

func newTokenServer(t *testing.T, handle func(w http.ResponseWriter, form map[string][]string)) *tokenServer {
	ts := &tokenServer{tenant: "contoso.onmicrosoft.com", handle: handle}
	ts.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host + "/" + ts.tenant
		switch r.URL.Path {
		case "/" + ts.tenant + "/v2.0/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{
				"token_endpoint":         base + "/oauth2/v2.0/token",
				"authorization_endpoint": base + "/oauth2/v2.0/authorize",
				"issuer":                 base + "/v2.0",
			})
		case "/" + ts.tenant + "/oauth2/v2.0/token":
			ts.requests.Add(1)
			if err := r.ParseForm(); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			if _, _, ok := r.BasicAuth(); ok {
				http.Error(w, `{"error":"invalid_request","error_description":"credentials in a Basic header"}`, 400)
				return
			}
			ts.mu.Lock()
			ts.forms = append(ts.forms, r.PostForm)
			ts.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			ts.handle(w, r.PostForm)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) entra() Entra {
	return Entra{Authority: ts.URL, Tenant: ts.tenant, ClientID: "app-1", HTTPClient: ts.Client()}
}

func okToken(access string, expiresIn int, refresh string) func(http.ResponseWriter, map[string][]string) {
	return func(w http.ResponseWriter, _ map[string][]string) {
		m := map[string]any{"token_type": "Bearer", "access_token": access, "expires_in": expiresIn, "ext_expires_in": expiresIn}
		if refresh != "" {
			m["refresh_token"] = refresh
		}
		json.NewEncoder(w).Encode(m)
	}
}

func TestClientCredentialsSecretCachedOnce(t *testing.T) {
	ts := newTokenServer(t, okToken("at-1", 3600, ""))
	e := ts.entra()
	e.ClientSecret = canarySecret
	f, err := ClientCredentials(e)
	if err != nil {
		t.Fatal(err)
	}
	var reg Registry
	src, _ := reg.Source("cc|app-1|"+ScopeExchangeApp, func() (Fetcher, error) { return f, nil })
	src2, _ := reg.Source("cc|app-1|"+ScopeExchangeApp, func() (Fetcher, error) { t.Fatal("second source built"); return nil, nil })
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := src
			if i%2 == 1 {
				s = src2
			}
			tok, err := s.Token(context.Background())
			if err != nil || tok.AccessToken != "at-1" || tok.Flow != FlowClientCredentials {
				t.Errorf("Token = %v, %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if n := ts.requests.Load(); n != 1 {
		t.Errorf("token endpoint got %d requests for 20 probes, want 1", n)
	}
	form := ts.forms[0]
	if form["grant_type"][0] != "client_credentials" || form["client_secret"][0] != canarySecret || !strings.HasPrefix(form["scope"][0], ScopeExchangeApp) {
		t.Errorf("form = %v", form)
	}
}

func TestClientCredentialsCertificate(t *testing.T) {
	ts := newTokenServer(t, func(w http.ResponseWriter, form map[string][]string) {
		if form["client_assertion_type"] == nil || len(strings.Split(form["client_assertion"][0], ".")) != 3 || form["client_secret"] != nil {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"invalid_client","error_codes":[700027]}`)
			return
		}
		okToken("at-cert", 3600, "")(w, form)
	})
	e := ts.entra()
	e.CertPEM = selfSignedPEM(t)
	f, err := ClientCredentials(e)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f(context.Background())
	if err != nil || tok.AccessToken != "at-cert" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
}

func TestEndpointErrorParsed(t *testing.T) {
	ts := newTokenServer(t, func(w http.ResponseWriter, _ map[string][]string) {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 0000\r\nTimestamp: 2026-11-01 10:00:00Z","error_codes":[7000215],"timestamp":"2026-11-01 10:00:00Z"}`)
	})
	e := ts.entra()
	e.ClientSecret = canarySecret
	f, err := ClientCredentials(e)
	if err != nil {
		t.Fatal(err)
	}
	src := NewCached(f)
	_, err = src.Token(context.Background())
	var te *probe.TokenError
	if !asTokenError(err, &te) || te.Code != "invalid_client" || !slices.Equal(te.ErrorCodes, []int{7000215}) || te.HTTPStatus != 401 {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(err.Error(), canarySecret) || strings.Contains(err.Error(), "Trace ID") {
		t.Errorf("error text %q", err.Error())
	}
	if !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("error text %q lacks the code", err.Error())
	}
	// The failure is remembered briefly: no second request.
	src.Token(context.Background())
	if n := ts.requests.Load(); n != 1 {
		t.Errorf("%d requests after a failure, want 1", n)
	}
}

func asTokenError(err error, te **probe.TokenError) bool {
	e, ok := err.(*probe.TokenError)
	*te = e
	return ok
}

func TestCacheRefreshesNearExpiry(t *testing.T) {
	var calls int
	now := time.Unix(1_800_000_000, 0)
	c := NewCached(func(context.Context) (probe.Token, error) {
		calls++
		return probe.Token{AccessToken: fmt.Sprint("t", calls), ExpiresAt: now.Add(time.Hour)}, nil
	})
	c.now = func() time.Time { return now }
	for range 3 {
		c.Token(context.Background())
	}
	if calls != 1 {
		t.Fatalf("calls = %d", calls)
	}
	now = now.Add(56 * time.Minute) // inside the 5-minute margin
	tok, _ := c.Token(context.Background())
	if calls != 2 || tok.AccessToken != "t2" {
		t.Fatalf("calls = %d tok %v", calls, tok.AccessToken)
	}
}

func TestRefreshTokenRotatedAndSaved(t *testing.T) {
	var n atomic.Int32
	ts := newTokenServer(t, func(w http.ResponseWriter, form map[string][]string) {
		i := n.Add(1)
		want := fmt.Sprint("rt-", i-1)
		if form["grant_type"][0] != "refresh_token" || form["refresh_token"][0] != want {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity."}`)
			return
		}
		okToken(fmt.Sprint("at-", i), 3600, fmt.Sprint("rt-", i))(w, form)
	})
	file := filepath.Join(t.TempDir(), "refresh")
	os.WriteFile(file, []byte("rt-0\n"), 0o600)
	o := OAuth2{TokenURL: ts.entra().TokenURL(), ClientID: "app-1", Scopes: strings.Fields(ScopesDelegated), HTTPClient: ts.Client()}
	f := RefreshToken(o, file)
	for i := 1; i <= 2; i++ {
		tok, err := f(context.Background())
		if err != nil || tok.AccessToken != fmt.Sprint("at-", i) {
			t.Fatalf("round %d: %v %v", i, tok, err)
		}
		b, _ := os.ReadFile(file)
		if strings.TrimSpace(string(b)) != fmt.Sprint("rt-", i) {
			t.Fatalf("file holds %q after round %d", b, i)
		}
	}
	st, _ := os.Stat(file)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	// A refused refresh token: error parsed, file untouched.
	os.WriteFile(file, []byte("rt-stale\n"), 0o600)
	_, err := f(context.Background())
	var te *probe.TokenError
	if !asTokenError(err, &te) || te.Code != "invalid_grant" || !slices.Equal(te.ErrorCodes, []int{70008}) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "rt-stale\n" {
		t.Errorf("file changed to %q", b)
	}
}

func TestGenericClientCredentialsInParams(t *testing.T) {
	ts := newTokenServer(t, okToken("at-g", 3600, ""))
	f := GenericClientCredentials(OAuth2{TokenURL: ts.entra().TokenURL(), ClientID: "c", ClientSecret: canarySecret, Scopes: []string{"s"}, HTTPClient: ts.Client()})
	tok, err := f(context.Background())
	if err != nil || tok.AccessToken != "at-g" {
		t.Fatalf("%v %v", tok, err)
	}
	if ts.forms[0]["client_secret"][0] != canarySecret {
		t.Errorf("secret not in the form: %v", ts.forms[0])
	}
}

func TestPasswordGrant(t *testing.T) {
	ts := newTokenServer(t, func(w http.ResponseWriter, form map[string][]string) {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.","error_codes":[50126]}`)
	})
	f := Password(OAuth2{TokenURL: ts.entra().TokenURL(), ClientID: "c", HTTPClient: ts.Client()}, "u@contoso.com",
		func(context.Context) (string, error) { return canarySecret, nil })
	_, err := f(context.Background())
	var te *probe.TokenError
	if !asTokenError(err, &te) || te.Flow != FlowPassword || !slices.Equal(te.ErrorCodes, []int{50126}) || strings.Contains(err.Error(), canarySecret) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseError(t *testing.T) {
	cases := []struct {
		body   string
		status int
		code   string
		codes  []int
	}{
		{`{"error":"invalid_grant","error_codes":[50076],"error_description":"AADSTS50076: Due to a configuration change..."}`, 400, "invalid_grant", []int{50076}},
		{`{"error":"interaction_required","error_description":"AADSTS53003: Access has been blocked by Conditional Access policies."}`, 400, "interaction_required", []int{53003}},
		{`<html>bad gateway</html>`, 502, "http_502", nil},
		{`{"error":"invalid_scope","error_codes":"oops"}`, 400, "invalid_scope", nil},
		{``, 200, "invalid_response", nil},
	}
	for _, c := range cases {
		te := ParseError("x", c.status, []byte(c.body))
		if te.Code != c.code || !slices.Equal(te.ErrorCodes, c.codes) {
			t.Errorf("ParseError(%q) = %q %v", c.body, te.Code, te.ErrorCodes)
		}
	}
}

func TestAuthorityURL(t *testing.T) {
	cases := []struct {
		e    Entra
		want string
	}{
		{Entra{Tenant: "contoso.com"}, "https://login.microsoftonline.com/contoso.com"},
		{Entra{Authority: "https://127.0.0.1:8443", Tenant: "t1"}, "https://127.0.0.1:8443/t1"},
		{Entra{Authority: "https://127.0.0.1:8443/t2/", Tenant: "t1"}, "https://127.0.0.1:8443/t2"},
		{Entra{Authority: "https://login.microsoftonline.com/"}, "https://login.microsoftonline.com/organizations"},
	}
	for _, c := range cases {
		if got := c.e.AuthorityURL(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "exoprobe app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})...)
	return out
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

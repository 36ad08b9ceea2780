package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeEntra is a token endpoint reached through MSAL, as in production.
// refuse makes it answer invalid_client echoing the secret it was sent
// (a hostile or buggy server): the reader must not repeat it.
func fakeEntra(t *testing.T, refuse bool, scopes *[]string) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			base := srv.URL + "/" + tenant
			_ = json.NewEncoder(w).Encode(map[string]any{"token_endpoint": base + "/oauth2/v2.0/token",
				"authorization_endpoint": base + "/oauth2/v2.0/authorize", "issuer": base + "/v2.0"})
		case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
			_ = r.ParseForm()
			if scopes != nil {
				*scopes = append(*scopes, r.PostForm.Get("scope"))
			}
			if refuse {
				w.WriteHeader(401)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client",
					"error_description": "AADSTS7000215: Invalid client secret provided: " + r.PostForm.Get("client_secret"),
					"error_codes":       []int{7000215}})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-" + r.PostForm.Get("scope")})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReaderSecretNeverShown(t *testing.T) {
	f := newFakeTenant(t)
	entra := fakeEntra(t, true, nil)
	r, _ := newReader(t, f, func(c *Config) {
		c.graphTok, c.exoTok = nil, nil // the real MSAL path
		c.Authority = entra.URL
		c.HTTPClient = entra.Client()
	})
	s := r.Read(context.Background(), fullRequest)
	if len(s.Problems) == 0 {
		t.Fatal("token refusal gave no problem")
	}
	b, _ := json.Marshal(s)
	a, _ := json.Marshal(BuildAudit(s, AuditOptions{}))
	for _, out := range []string{string(b), string(a)} {
		if strings.Contains(out, secret1) {
			t.Fatalf("the reader's secret appears in the output: %s", out)
		}
	}
	p, _ := s.Problem("Get-TransportConfig")
	if p.Kind != "token_failed" || !strings.Contains(p.Why, "AADSTS7000215") {
		t.Fatalf("token problem = %+v", p)
	}
}

func TestReaderTokensOnePerResource(t *testing.T) {
	f := newFakeTenant(t)
	var scopes []string
	entra := fakeEntra(t, false, &scopes)
	// The fake tenant server and the fake Entra have different CAs: one
	// client trusting both.
	pool := f.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	pool.AddCert(entra.Certificate())
	r, _ := newReader(t, f, func(c *Config) {
		c.graphTok, c.exoTok = nil, nil
		c.Authority = entra.URL
	})
	s := r.Read(context.Background(), Request{Mailboxes: []string{"scanner@contoso.com"}})
	if len(s.Problems) != 0 {
		t.Fatalf("problems: %v", s.Problems)
	}
	got := strings.Join(scopes, " | ")
	if !strings.Contains(got, ScopeGraph) || !strings.Contains(got, ScopeExchange) || len(scopes) != 2 {
		t.Fatalf("token requests = %q, want one for Graph and one for Exchange", got)
	}
}

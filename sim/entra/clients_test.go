package entra

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Clients we did not write, against the endpoint: MSAL Go (secret and
// certificate, PS256 assertion with x5t#S256) and x/oauth2.

func (e *env) msal(cred confidential.Credential) confidential.Client {
	e.t.Helper()
	c, err := confidential.New(e.authority(), e.demo.ClientID, cred,
		confidential.WithHTTPClient(e.srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestMSALClientCredentials(t *testing.T) {
	e := newEnv(t)
	secret, err := confidential.NewCredFromSecret(e.demo.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	certs, key, err := confidential.CertFromPEM([]byte(e.demo.CertificatePEM+e.demo.KeyPEM), "")
	if err != nil {
		t.Fatal(err)
	}
	certCred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cred confidential.Credential
		acr  string
	}{{"secret", secret, "1"}, {"certificate", certCred, "2"}} {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.msal(c.cred).AcquireTokenByCredential(context.Background(), []string{"https://outlook.office365.com/.default"})
			if err != nil {
				t.Fatal(err)
			}
			cl := e.claims(res.AccessToken)
			if cl.AppIDACR != c.acr || cl.Aud != tenant.ResourceOutlook365 {
				t.Fatalf("claims %+v", cl)
			}
			for _, p := range []tenant.Protocol{tenant.IMAP, tenant.POP, tenant.SMTP} {
				if v := e.tn.AuthenticateBearer(p, e.demo.User, res.AccessToken); v != tenant.VerdictOK {
					t.Errorf("%s: %s", p, v)
				}
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		bad, _ := confidential.NewCredFromSecret("not-it")
		_, err := e.msal(bad).AcquireTokenByCredential(context.Background(), []string{"https://outlook.office365.com/.default"})
		if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), e.demo.ClientSecret) {
			t.Fatal("secret in error")
		}
	})
	t.Run("ROPC through MSAL", func(t *testing.T) {
		res, err := e.msal(secret).AcquireTokenByUsernamePassword(context.Background(),
			[]string{"https://outlook.office.com/IMAP.AccessAsUser.All"}, e.demo.User, e.demo.Password)
		if err != nil {
			t.Fatal(err)
		}
		if v := e.tn.AuthenticateBearer(tenant.IMAP, e.demo.User, res.AccessToken); v != tenant.VerdictOK {
			t.Fatalf("IMAP: %s", v)
		}
		if res.Account.PreferredUsername != e.demo.User {
			t.Errorf("account %q", res.Account.PreferredUsername)
		}
	})
}

func (e *env) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
}

func TestXOAuth2ClientCredentials(t *testing.T) {
	e := newEnv(t)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		cc := clientcredentials.Config{
			ClientID: e.demo.ClientID, ClientSecret: e.demo.ClientSecret, TokenURL: e.tokenURL,
			Scopes: []string{"https://outlook.office365.com/.default"}, AuthStyle: style,
		}
		tok, err := cc.Token(e.ctx())
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if v := e.tn.AuthenticateBearer(tenant.SMTP, e.demo.User, tok.AccessToken); v != tenant.VerdictOK {
			t.Fatalf("style %d: SMTP %s", style, v)
		}
	}
	cc := clientcredentials.Config{ClientID: e.demo.ClientID, ClientSecret: "wrong", TokenURL: e.tokenURL,
		Scopes: []string{"https://outlook.office365.com/.default"}, AuthStyle: oauth2.AuthStyleInParams}
	_, err := cc.Token(e.ctx())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || !strings.HasPrefix(re.ErrorDescription, "AADSTS7000215: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestXOAuth2PasswordAndRefresh(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	e.setClock(start)
	conf := &oauth2.Config{
		ClientID: e.demo.ClientID,
		Endpoint: oauth2.Endpoint{TokenURL: e.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"},
	}
	tok, err := conf.PasswordCredentialsToken(e.ctx(), e.demo.User, e.demo.Password)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token with offline_access")
	}
	// Refresh: x/oauth2 sends no scope; the grant's scopes apply, and a new
	// refresh token comes back.
	e.setClock(start.Add(2 * time.Hour))
	stale := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: start.Add(-time.Minute)}
	fresh, err := conf.TokenSource(e.ctx(), stale).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh did not return a new pair")
	}
	for _, p := range []tenant.Protocol{tenant.IMAP, tenant.SMTP} {
		if v := e.tn.AuthenticateBearer(p, e.demo.User, fresh.AccessToken); v != tenant.VerdictOK {
			t.Errorf("refreshed token at %s: %s", p, v)
		}
	}
	// The old access token has expired by now.
	if v := e.tn.AuthenticateBearer(tenant.IMAP, e.demo.User, tok.AccessToken); v != tenant.VerdictTokenRejected {
		t.Errorf("expired token at IMAP: %s", v)
	}
	// Revoking sessions (Set-User -STSRefreshTokensValidFrom) kills both
	// refresh tokens with AADSTS50173.
	e.update(func(s *tenant.State) { _ = s.RevokeSessions(e.demo.User, start.Add(3*time.Hour)) })
	e.setClock(start.Add(4 * time.Hour))
	_, err = conf.TokenSource(e.ctx(), &oauth2.Token{RefreshToken: fresh.RefreshToken, Expiry: start}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || !strings.HasPrefix(re.ErrorDescription, "AADSTS50173: ") {
		t.Fatalf("after revoke: %v", err)
	}
	// Wrong password through x/oauth2.
	_, err = conf.PasswordCredentialsToken(e.ctx(), e.demo.User, "wrong")
	if !errors.As(err, &re) || !strings.HasPrefix(re.ErrorDescription, "AADSTS50126: ") {
		t.Fatalf("wrong password: %v", err)
	}
}

package token

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/exoprobe/exoprobe/probe"
)

// Entra describes one app registration in one tenant.
type Entra struct {
	// Authority is the authority URL ("https://login.microsoftonline.com/
	// <tenant>"). A bare host URL gets the tenant appended; empty means
	// Entra's public cloud.
	Authority string
	Tenant    string
	ClientID  string
	// ClientSecret or CertPEM (certificate and private key, PEM) is the
	// app's credential.
	ClientSecret string
	CertPEM      []byte
	// Scope for client credentials; ScopeExchangeApp when empty.
	Scope string
	// HTTPClient trusts the token endpoint's CA (--ca-file); nil means
	// http.DefaultClient. Either way response bodies are capped
	// (probe.MaxHTTPBodyBytes).
	HTTPClient *http.Client
}

// AuthorityURL returns the authority with the tenant in its path.
func (e Entra) AuthorityURL() string {
	a := strings.TrimRight(e.Authority, "/")
	if a == "" {
		a = DefaultAuthorityHost
	}
	if u, err := url.Parse(a); err == nil && (u.Path == "" || u.Path == "/") {
		tenant := e.Tenant
		if tenant == "" {
			tenant = "organizations"
		}
		a += "/" + tenant
	}
	return a
}

// TokenURL is the v2.0 token endpoint of the authority.
func (e Entra) TokenURL() string { return e.AuthorityURL() + "/oauth2/v2.0/token" }

// confidentialClient is the part of MSAL's confidential client the probe
// uses; tests and other identity providers can stand in for it.
type confidentialClient interface {
	AcquireTokenByCredential(ctx context.Context, scopes []string, opts ...confidential.AcquireByCredentialOption) (confidential.AuthResult, error)
}

// ClientCredentials returns a Fetcher for the client-credentials grant with
// a secret or a certificate, through MSAL Go.
func ClientCredentials(e Entra) (Fetcher, error) {
	var cred confidential.Credential
	var err error
	switch {
	case len(e.CertPEM) > 0:
		certs, key, perr := confidential.CertFromPEM(e.CertPEM, "")
		if perr != nil {
			return nil, fmt.Errorf("token: certificate: %w", perr)
		}
		cred, err = confidential.NewCredFromCert(certs, key)
	case e.ClientSecret != "":
		cred, err = confidential.NewCredFromSecret(e.ClientSecret)
	default:
		return nil, errors.New("token: client credentials need a client secret or a certificate")
	}
	if err != nil {
		return nil, fmt.Errorf("token: credential: %w", err)
	}
	if e.ClientID == "" {
		return nil, errors.New("token: client credentials need a client id")
	}
	opts := []confidential.Option{confidential.WithInstanceDiscovery(false),
		confidential.WithHTTPClient(limitedClient(e.HTTPClient))}
	client, err := confidential.New(e.AuthorityURL(), e.ClientID, cred, opts...)
	if err != nil {
		return nil, fmt.Errorf("token: msal: %w", err)
	}
	return clientCredentials(client, firstNonEmpty(e.Scope, ScopeExchangeApp)), nil
}

func clientCredentials(c confidentialClient, scope string) Fetcher {
	return func(ctx context.Context) (probe.Token, error) {
		res, err := c.AcquireTokenByCredential(ctx, []string{scope})
		if err != nil {
			return probe.Token{}, msalError(FlowClientCredentials, err)
		}
		return probe.Token{AccessToken: res.AccessToken, ExpiresAt: res.ExpiresOn, Flow: FlowClientCredentials}, nil
	}
}

// msalError turns MSAL's error (the endpoint's body sits in CallErr.Resp)
// into a TokenError.
func msalError(flow string, err error) error {
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		var body []byte
		if ce.Resp.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(ce.Resp.Body, 64<<10))
		}
		te := ParseError(flow, ce.Resp.StatusCode, body)
		if te.Description == "" && te.Code == "" {
			te.Err = err
		}
		return te
	}
	return &probe.TokenError{Flow: flow, Err: err}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

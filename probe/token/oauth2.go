package token

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/exoprobe/exoprobe/probe"
)

// OAuth2 describes a client of any OAuth 2.0 token endpoint (Entra's v2.0
// endpoint, Google's, a test server's).
type OAuth2 struct {
	TokenURL     string
	ClientID     string
	ClientSecret string // empty for public clients
	Scopes       []string
	HTTPClient   *http.Client
}

func (o OAuth2) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: o.Scopes,
		// Entra documents the credentials in the form body, not in an
		// HTTP Basic header (x/oauth2's default guess).
		Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// ctx carries the HTTP client x/oauth2 uses: o.HTTPClient (or the
// default) with response bodies capped.
func (o OAuth2) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, limitedClient(o.HTTPClient))
}

// GenericClientCredentials is the client-credentials grant against any token
// URL, through x/oauth2.
func GenericClientCredentials(o OAuth2) Fetcher {
	cc := &clientcredentials.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: o.TokenURL,
		Scopes: o.Scopes, AuthStyle: oauth2.AuthStyleInParams,
	}
	return func(ctx context.Context) (probe.Token, error) {
		t, err := cc.Token(o.ctx(ctx))
		if err != nil {
			return probe.Token{}, oauth2Error(FlowClientCredentials, err)
		}
		return probe.Token{AccessToken: t.AccessToken, ExpiresAt: t.Expiry, Flow: FlowClientCredentials}, nil
	}
}

// Password is the resource-owner password grant (ROPC). Each request is a
// real sign-in that counts toward smart lockout: use it only as an explicit
// diagnostic, never on a schedule.
func Password(o OAuth2, user string, password func(context.Context) (string, error)) Fetcher {
	return func(ctx context.Context) (probe.Token, error) {
		pw, err := password(ctx)
		if err != nil {
			return probe.Token{}, &probe.TokenError{Flow: FlowPassword, Err: fmt.Errorf("password: %w", err)}
		}
		t, err := o.config().PasswordCredentialsToken(o.ctx(ctx), user, pw)
		if err != nil {
			return probe.Token{}, oauth2Error(FlowPassword, err)
		}
		return probe.Token{AccessToken: t.AccessToken, ExpiresAt: t.Expiry, Flow: FlowPassword}, nil
	}
}

// RefreshToken redeems a delegated refresh token kept in a file. Entra
// rotates refresh tokens: the new one replaces the file's content
// atomically, so a crash never leaves a half-written token behind.
func RefreshToken(o OAuth2, file string) Fetcher {
	var mu sync.Mutex // one redemption at a time: each one rotates the file
	return func(ctx context.Context) (probe.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		b, err := os.ReadFile(file)
		if err != nil {
			return probe.Token{}, &probe.TokenError{Flow: FlowRefreshToken, Err: fmt.Errorf("refresh token file: %w", err)}
		}
		rt := strings.TrimSpace(string(b))
		if rt == "" {
			return probe.Token{}, &probe.TokenError{Flow: FlowRefreshToken, Err: errors.New("refresh token file is empty")}
		}
		t, err := o.config().TokenSource(o.ctx(ctx), &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			return probe.Token{}, oauth2Error(FlowRefreshToken, err)
		}
		if t.RefreshToken != "" && t.RefreshToken != rt {
			if err := writeAtomic(file, []byte(t.RefreshToken+"\n")); err != nil {
				// The old token may be dead now: say so loudly.
				return probe.Token{}, &probe.TokenError{Flow: FlowRefreshToken, Err: fmt.Errorf("saving the rotated refresh token: %w", err)}
			}
		}
		return probe.Token{AccessToken: t.AccessToken, ExpiresAt: t.Expiry, Flow: FlowRefreshToken}, nil
	}
}

// writeAtomic replaces file with data via a temporary file in the same
// directory, keeping the original's permissions (0600 for a new one).
func writeAtomic(file string, data []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(file); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, file)
}

// oauth2Error turns x/oauth2's RetrieveError into a TokenError without the
// request (which holds the secret) or the raw body in its text.
func oauth2Error(flow string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return ParseError(flow, status, re.Body)
	}
	return &probe.TokenError{Flow: flow, Err: err}
}

// Package token obtains OAuth 2.0 access tokens for the XOAUTH2 probes:
// client credentials (secret or certificate) through MSAL Go, a delegated
// refresh token (rotated tokens written back to their file), the password
// grant as an explicit diagnostic, and generic token URLs (x/oauth2). Every
// source is cached: one token request per app and scope until the token is
// near expiry, never one per probe.
package token

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// Scopes Exchange Online expects.
const (
	// ScopeExchangeApp is the client-credentials scope for IMAP, POP and
	// SMTP (roles IMAP.AccessAsApp, POP.AccessAsApp, SMTP.SendAsApp).
	ScopeExchangeApp = "https://outlook.office365.com/.default"
	// ScopesDelegated are the delegated scopes of one token usable for all
	// three protocols (one resource, so one token).
	ScopesDelegated = "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access"
)

// DefaultAuthorityHost is Entra ID's public cloud.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// Flow names, as recorded in probe.Token.Flow and TokenInfo.Flow.
const (
	FlowClientCredentials = "client_credentials"
	FlowRefreshToken      = "refresh_token"
	FlowPassword          = "password"
)

// Fetcher makes one token request. Cached turns it into a TokenSource.
type Fetcher func(ctx context.Context) (probe.Token, error)

// Cached is a probe.TokenSource that asks its Fetcher only when it holds no
// token valid for at least Margin more; concurrent callers share one
// request. A failure is remembered for NegativeTTL so that a broken app (or,
// with the password grant, a locked account) is not hammered by every probe.
type Cached struct {
	fetch       Fetcher
	Margin      time.Duration
	NegativeTTL time.Duration
	now         func() time.Time

	mu       sync.Mutex
	tok      probe.Token
	err      error
	errUntil time.Time
	inflight chan struct{}
}

// NewCached wraps f with the default margins: refresh five minutes before
// expiry, remember a failure for thirty seconds.
func NewCached(f Fetcher) *Cached {
	return &Cached{fetch: f, Margin: 5 * time.Minute, NegativeTTL: 30 * time.Second, now: time.Now}
}

// Token returns the cached token or fetches a new one.
func (c *Cached) Token(ctx context.Context) (probe.Token, error) {
	for {
		c.mu.Lock()
		now := c.now()
		if c.tok.AccessToken != "" && (c.tok.ExpiresAt.IsZero() || now.Add(c.Margin).Before(c.tok.ExpiresAt)) {
			t := c.tok
			c.mu.Unlock()
			return t, nil
		}
		if c.err != nil && now.Before(c.errUntil) {
			err := c.err
			c.mu.Unlock()
			return probe.Token{}, err
		}
		if wait := c.inflight; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return probe.Token{}, &probe.TokenError{Err: ctx.Err()}
			}
		}
		done := make(chan struct{})
		c.inflight = done
		c.mu.Unlock()

		tok, err := withLimitBox(ctx, c.fetch)

		c.mu.Lock()
		c.inflight = nil
		if err != nil {
			// A cancelled caller says nothing about the endpoint.
			if ctx.Err() == nil {
				c.err, c.errUntil = err, c.now().Add(c.NegativeTTL)
			}
		} else {
			c.tok, c.err = tok, nil
		}
		c.mu.Unlock()
		close(done)
		return tok, err
	}
}

// Registry shares one Cached source per key (authority, client, scope,
// flow, account), so that targets using the same app share its token.
type Registry struct {
	mu      sync.Mutex
	sources map[string]*Cached
}

// Source returns the source for key, creating it with mk on first use.
func (r *Registry) Source(key string, mk func() (Fetcher, error)) (probe.TokenSource, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.sources[key]; ok {
		return s, nil
	}
	f, err := mk()
	if err != nil {
		return nil, err
	}
	if r.sources == nil {
		r.sources = map[string]*Cached{}
	}
	s := NewCached(f)
	r.sources[key] = s
	return s, nil
}

var aadsts = regexp.MustCompile(`AADSTS(\d+)`)

// ParseError reads a token endpoint's error body ({"error",
// "error_description", "error_codes"}). It never fails: a body that is not
// JSON still gives a TokenError with the HTTP status.
func ParseError(flow string, status int, body []byte) *probe.TokenError {
	te := &probe.TokenError{Flow: flow, HTTPStatus: status}
	var e struct {
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
		Codes       json.RawMessage `json:"error_codes"`
	}
	if json.Unmarshal(body, &e) == nil {
		te.Code, te.Description = e.Error, e.Description
		var codes []int
		if json.Unmarshal(e.Codes, &codes) == nil {
			te.ErrorCodes = codes
		}
	}
	if len(te.ErrorCodes) == 0 {
		for _, m := range aadsts.FindAllStringSubmatch(te.Description, -1) {
			if n, err := strconv.Atoi(m[1]); err == nil {
				te.ErrorCodes = append(te.ErrorCodes, n)
				break // the first code names the failure; the rest are context
			}
		}
	}
	if te.Code == "" && te.HTTPStatus != 0 {
		te.Code = "http_" + strconv.Itoa(status)
		if status == http.StatusOK {
			te.Code = "invalid_response"
		}
	}
	return te
}

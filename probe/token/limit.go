package token

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/exoprobe/exoprobe/probe"
)

// MSAL Go and x/oauth2 read token and discovery bodies whole (x/oauth2 up
// to 1 MiB, MSAL without limit): every client this package hands them
// caps bodies at probe.MaxHTTPBodyBytes, so an endless body costs at most
// that much and ends the request with a probe.LimitError.

// limitedClient returns a copy of c (http.DefaultClient when nil) whose
// transport caps response bodies.
func limitedClient(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	if _, ok := c.Transport.(limitTransport); ok {
		return c
	}
	cc := *c
	base := cc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = limitTransport{base: base}
	return &cc
}

type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if resp.ContentLength > probe.MaxHTTPBodyBytes {
		resp.Body.Close()
		return nil, tripped(r.Context())
	}
	resp.Body = &limitBody{rc: resp.Body, left: probe.MaxHTTPBodyBytes, ctx: r.Context()}
	return resp, nil
}

// limitBody fails the read that would go past the limit.
type limitBody struct {
	rc   io.ReadCloser
	left int64
	ctx  context.Context
}

func (b *limitBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, tripped(b.ctx)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), -1
		return n, tripped(b.ctx)
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitBody) Close() error { return b.rc.Close() }

// The libraries flatten the errors of a body read (x/oauth2 formats them
// with %v), so the limit is also recorded in the request's context, where
// Cached finds it again.
type limitBoxKey struct{}

type limitBox struct {
	mu  sync.Mutex
	err *probe.LimitError
}

func tripped(ctx context.Context) error {
	le := &probe.LimitError{Stage: probe.StageToken, Name: probe.LimitHTTPBodyByte, Max: probe.MaxHTTPBodyBytes}
	if box, ok := ctx.Value(limitBoxKey{}).(*limitBox); ok {
		box.mu.Lock()
		if box.err == nil {
			box.err = le
		}
		box.mu.Unlock()
	}
	return le
}

// withLimitBox runs fetch with a box in its context and turns its error
// into one that carries the LimitError when a body crossed the limit.
func withLimitBox(ctx context.Context, fetch Fetcher) (probe.Token, error) {
	box := &limitBox{}
	tok, err := fetch(context.WithValue(ctx, limitBoxKey{}, box))
	if err == nil {
		return tok, nil
	}
	box.mu.Lock()
	le := box.err
	box.mu.Unlock()
	var have *probe.LimitError
	if le == nil || errors.As(err, &have) {
		return tok, err
	}
	te := &probe.TokenError{Err: le}
	var orig *probe.TokenError
	if errors.As(err, &orig) {
		te.Flow = orig.Flow
	}
	return tok, te
}

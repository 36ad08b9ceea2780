package probe_test

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/probe/token"
)

// A token endpoint that cannot be reached is the network's or the deadline's
// failure, not a refusal by the endpoint: the attempt's error kind says so
// and diagnose names token_endpoint_unreachable (a local cause: outbound 443),
// not token_request_failed.
func TestTokenEndpointUnreachable(t *testing.T) {
	_, base := simTarget(t)

	// A closed port: listen, take the address, close.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	// A hung authority: accepts connections and never says a word.
	hungAddr := testenv.SilentServer(t)

	cases := []struct {
		name, addr string
		kind       probe.ErrorKind
		cause      diagnose.Cause
	}{
		{"closed-port", closedAddr, probe.ErrConnect, diagnose.CauseTokenEndpointUnreachable},
		{"hung", hungAddr, probe.ErrTimeout, diagnose.CauseTokenEndpointUnreachable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fetch, err := token.ClientCredentials(token.Entra{
				Authority: "https://" + c.addr + "/contoso.onmicrosoft.com", ClientID: "00000000-0000-0000-0000-000000000001",
				ClientSecret: "secret-canary-9d1e", HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: base.TLSConfig}},
			})
			if err != nil {
				t.Fatal(err)
			}
			tg := *base
			tg.Token = token.NewCached(fetch)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			a := probe.Run(ctx, probe.Check{Target: &tg, Protocol: probe.SMTP, Mechanism: probe.XOAUTH2})
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("attempt took %v with a 2s deadline", el)
			}
			if a.OK || a.Stage != probe.StageToken || a.ErrorKind != c.kind {
				t.Fatalf("ok %v stage %s kind %q (want %q) err %q", a.OK, a.Stage, a.ErrorKind, c.kind, a.Error)
			}
			f := diagnose.Classify([]probe.Attempt{a})[0]
			if f.Cause != c.cause {
				t.Errorf("cause %s, want %s; evidence %q", f.Cause, c.cause, f.Evidence)
			}
			if strings.Contains(strings.Join(f.Evidence, "\n")+a.Error, "secret-canary-9d1e") {
				t.Error("the client secret leaked into the attempt or the evidence")
			}
		})
	}
}

// A token source whose secret file cannot be read made no request: the
// attempt says ErrSecret, not ErrToken, so diagnosis never reads it as the
// endpoint's refusal.
func TestTokenSecretFileMissing(t *testing.T) {
	_, base := simTarget(t)
	tg := *base
	tg.Token = failingTokenSource{err: &probe.TokenError{Err: fmt.Errorf("client secret (file:/nonexistent): %w",
		&fs.PathError{Op: "open", Path: "/nonexistent", Err: fs.ErrNotExist})}}
	a := probe.Run(context.Background(), probe.Check{Target: &tg, Protocol: probe.SMTP, Mechanism: probe.XOAUTH2})
	if a.OK || a.Stage != probe.StageToken || a.ErrorKind != probe.ErrSecret {
		t.Fatalf("ok %v stage %s kind %q err %q", a.OK, a.Stage, a.ErrorKind, a.Error)
	}
	if f := diagnose.Classify([]probe.Attempt{a})[0]; f.Cause != diagnose.CauseSecretUnreadable {
		t.Errorf("cause %s; evidence %q", f.Cause, f.Evidence)
	}
}

type failingTokenSource struct{ err error }

func (f failingTokenSource) Token(context.Context) (probe.Token, error) { return probe.Token{}, f.err }

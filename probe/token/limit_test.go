package token

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// endlessBody writes JSON-looking bytes until the client goes away.
func endlessBody(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{"access_token":"`))
	chunk := []byte(strings.Repeat("A", 32<<10))
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// TestEndlessBodiesAreCut: a token endpoint or discovery document that
// never ends costs at most the body limit; the fetch fails at once with a
// LimitError that names it, for MSAL (which reads bodies whole) and for
// x/oauth2 (which flattens the read error into text).
func TestEndlessBodiesAreCut(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fetch func(ts *tokenServer) Fetcher
		setup func(ts *tokenServer)
	}{
		{"msal-token-endpoint", func(ts *tokenServer) Fetcher {
			e := ts.entra()
			e.ClientSecret = canarySecret
			f, err := ClientCredentials(e)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, nil},
		{"msal-discovery", func(ts *tokenServer) Fetcher {
			e := ts.entra()
			e.ClientSecret = canarySecret
			e.Tenant = "endless-discovery"
			f, err := ClientCredentials(e)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, nil},
		{"x-oauth2-client-credentials", func(ts *tokenServer) Fetcher {
			return GenericClientCredentials(OAuth2{TokenURL: ts.URL + "/" + ts.tenant + "/oauth2/v2.0/token",
				ClientID: "app-1", ClientSecret: canarySecret, HTTPClient: ts.Client()})
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTokenServer(t, func(w http.ResponseWriter, _ map[string][]string) { endlessBody(w) })
			inner := ts.Config.Handler
			ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/endless-discovery/") {
					endlessBody(w)
					return
				}
				inner.ServeHTTP(w, r)
			})
			src := NewCached(tc.fetch(ts))
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			start := time.Now()
			_, err := src.Token(ctx)
			el := time.Since(start)
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			var le *probe.LimitError
			if !errors.As(err, &le) || le.Name != probe.LimitHTTPBodyByte || le.Stage != probe.StageToken {
				t.Fatalf("err = %v, want a LimitError %s", err, probe.LimitHTTPBodyByte)
			}
			if strings.Contains(err.Error(), canarySecret) {
				t.Fatalf("secret in %v", err)
			}
			if el > 4*time.Second {
				t.Errorf("took %v", el)
			}
			// The cap plus what MSAL/x/oauth2 copy it into, and the
			// server's side: a few MB, not the GB an endless body costs
			// a whole-body reader.
			if alloc > 16<<20 {
				t.Errorf("allocated %d KiB", alloc>>10)
			}
			t.Logf("%s: %v, %d KiB allocated: %v", tc.name, el.Round(time.Millisecond), alloc>>10, err)
		})
	}
}

// A body announced longer than the limit is refused before it is read.
func TestAnnouncedLongBodyRefused(t *testing.T) {
	ts := newTokenServer(t, func(w http.ResponseWriter, _ map[string][]string) {
		w.Header().Set("Content-Length", "1000000000")
		w.WriteHeader(http.StatusOK)
	})
	f := GenericClientCredentials(OAuth2{TokenURL: ts.URL + "/" + ts.tenant + "/oauth2/v2.0/token",
		ClientID: "app-1", ClientSecret: canarySecret, HTTPClient: ts.Client()})
	_, err := NewCached(f).Token(context.Background())
	var le *probe.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
}

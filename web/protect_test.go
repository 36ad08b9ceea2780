package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/exoprobe/exoprobe/internal/actor"
)

var (
	loopbackListen = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9465}
	wildcardListen = &net.TCPAddr{IP: net.IPv4zero, Port: 9465}
)

// writeMux counts the writes that got through and records who made them.
func writeMux(n *atomic.Int32, who *atomic.Value) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	h := func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		who.Store(actor.From(r.Context()))
		w.Write([]byte("done\n"))
	}
	mux.HandleFunc("POST /-/reload", h)
	mux.HandleFunc("POST /api/v1/silences", h)
	mux.HandleFunc("DELETE /api/v1/silences/{id}", h)
	// A write handler added later, not registered with the guard.
	mux.HandleFunc("PUT /api/v1/future", h)
	return mux
}

func tokenFile(t *testing.T, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProtection(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name    string
		opt     ProtectOptions
		method  string
		path    string
		host    string
		headers map[string]string
		want    int
		wrote   bool
	}{
		// DNS rebinding: a foreign name in Host reads and writes nothing.
		{name: "rebinding read", opt: ProtectOptions{Listen: loopbackListen}, method: "GET", path: "/api/v1/status",
			host: "attacker.example:9465", want: http.StatusMisdirectedRequest},
		{name: "rebinding silence", opt: ProtectOptions{Listen: loopbackListen}, method: "POST", path: "/api/v1/silences",
			host: "attacker.example:9465", headers: map[string]string{"Origin": "http://attacker.example:9465", "Content-Type": "application/json"},
			want: http.StatusMisdirectedRequest},
		{name: "rebinding with matching origin, token holder", opt: ProtectOptions{Listen: wildcardListen}, method: "POST", path: "/-/reload",
			host: "rebind.attacker.example", headers: map[string]string{"Origin": "http://rebind.attacker.example"}, want: http.StatusMisdirectedRequest},
		{name: "IP literal", opt: ProtectOptions{Listen: loopbackListen}, method: "GET", path: "/api/v1/status", host: "127.0.0.1:9465", want: 200},
		{name: "IPv6 literal", opt: ProtectOptions{Listen: loopbackListen}, method: "GET", path: "/api/v1/status", host: "[::1]:9465", want: 200},
		{name: "localhost", opt: ProtectOptions{Listen: loopbackListen}, method: "GET", path: "/api/v1/status", host: "localhost:9465", want: 200},
		{name: "external name", opt: ProtectOptions{Listen: loopbackListen, ExternalNames: []string{"exoprobe.monitoring.svc"}},
			method: "GET", path: "/api/v1/status", host: "Exoprobe.Monitoring.svc.:9465", want: 200},
		// Cross-site writes.
		{name: "cross-site form reload", opt: ProtectOptions{Listen: loopbackListen}, method: "POST", path: "/-/reload", host: "127.0.0.1:9465",
			headers: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"},
			want:    http.StatusForbidden},
		{name: "cross-site without Sec-Fetch", opt: ProtectOptions{Listen: loopbackListen}, method: "POST", path: "/-/reload", host: "localhost:9465",
			headers: map[string]string{"Origin": "https://evil.example"}, want: http.StatusForbidden},
		{name: "same-site other port", opt: ProtectOptions{Listen: loopbackListen}, method: "POST", path: "/-/reload", host: "localhost:9465",
			headers: map[string]string{"Sec-Fetch-Site": "same-site"}, want: http.StatusForbidden},
		{name: "null origin", opt: ProtectOptions{Listen: loopbackListen}, method: "DELETE", path: "/api/v1/silences/x", host: "localhost:9465",
			headers: map[string]string{"Origin": "null"}, want: http.StatusForbidden},
		{name: "same-origin page", opt: ProtectOptions{Listen: loopbackListen}, method: "POST", path: "/-/reload", host: "localhost:9465",
			headers: map[string]string{"Origin": "http://localhost:9465", "Sec-Fetch-Site": "same-origin"}, want: 200, wrote: true},
		{name: "curl on loopback", opt: ProtectOptions{Listen: loopbackListen}, method: "POST", path: "/-/reload", host: "127.0.0.1:9465", want: 200, wrote: true},
		// Beyond loopback, writes need credentials.
		{name: "wildcard unprotected", opt: ProtectOptions{Listen: wildcardListen}, method: "POST", path: "/-/reload", host: "10.0.0.5:9465",
			want: http.StatusForbidden},
		{name: "wildcard unprotected future write", opt: ProtectOptions{Listen: wildcardListen}, method: "PUT", path: "/api/v1/future", host: "10.0.0.5:9465",
			want: http.StatusForbidden},
		{name: "wildcard read", opt: ProtectOptions{Listen: wildcardListen}, method: "GET", path: "/api/v1/status", host: "10.0.0.5:9465", want: 200},
		{name: "token missing", opt: ProtectOptions{Listen: wildcardListen, TokenFile: "TOKEN"}, method: "POST", path: "/api/v1/silences",
			host: "10.0.0.5:9465", want: http.StatusUnauthorized},
		{name: "token wrong", opt: ProtectOptions{Listen: wildcardListen, TokenFile: "TOKEN"}, method: "POST", path: "/api/v1/silences",
			host: "10.0.0.5:9465", headers: map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}, want: http.StatusUnauthorized},
		{name: "token right", opt: ProtectOptions{Listen: wildcardListen, TokenFile: "TOKEN"}, method: "POST", path: "/api/v1/silences",
			host: "10.0.0.5:9465", headers: map[string]string{"Authorization": "Bearer " + tok}, want: 200, wrote: true},
		{name: "token on loopback still required", opt: ProtectOptions{Listen: loopbackListen, TokenFile: "TOKEN"}, method: "POST", path: "/-/reload",
			host: "127.0.0.1:9465", want: http.StatusUnauthorized},
		{name: "token right but cross-site", opt: ProtectOptions{Listen: wildcardListen, TokenFile: "TOKEN"}, method: "POST", path: "/-/reload",
			host: "10.0.0.5:9465", headers: map[string]string{"Authorization": "Bearer " + tok, "Sec-Fetch-Site": "cross-site"}, want: http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.opt.TokenFile == "TOKEN" {
				c.opt.TokenFile = tokenFile(t, tok)
			}
			c.opt.Logger = slog.New(slog.DiscardHandler)
			p, err := NewProtection(c.opt)
			if err != nil {
				t.Fatal(err)
			}
			var n atomic.Int32
			var who atomic.Value
			h := p.Handler(writeMux(&n, &who))
			req := httptest.NewRequest(c.method, "http://"+c.host+c.path, strings.NewReader("{}"))
			req.Host = c.host
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("%s %s Host %s: %d %q, want %d", c.method, c.path, c.host, rec.Code, rec.Body.String(), c.want)
			}
			if wrote := n.Load() > 0; wrote != c.wrote {
				t.Errorf("handler ran: %v, want %v", wrote, c.wrote)
			}
			if c.wrote && who.Load() == "" {
				t.Error("a write without an actor")
			}
		})
	}
}

func TestProtectionOptions(t *testing.T) {
	if _, err := NewProtection(ProtectOptions{TokenFile: tokenFile(t, "short")}); err == nil {
		t.Error("a 5-character token was accepted")
	}
	if _, err := NewProtection(ProtectOptions{TokenFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing token file was accepted")
	}
	if _, err := NewProtection(ProtectOptions{ExternalNames: []string{"http://x/"}}); err == nil {
		t.Error("a URL was accepted as an external name")
	}
	p, _ := NewProtection(ProtectOptions{Listen: wildcardListen})
	if p.WritesProtected() || !strings.Contains(p.Describe(), "refused") {
		t.Errorf("wildcard without auth: protected=%v %q", p.WritesProtected(), p.Describe())
	}
	p, _ = NewProtection(ProtectOptions{Listen: &net.TCPAddr{IP: net.IPv6loopback, Port: 1}})
	if !p.WritesProtected() {
		t.Error("::1 is loopback")
	}
}

// A real server with basic auth in the web config: the health checks need
// no credentials, everything else does, and a write made with them is
// logged under the user's name.
func TestProtectionBasicAuthServer(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw-for-prom"), bcrypt.MinCost)
	webCfg := filepath.Join(dir, "web.yml")
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  admin: "+string(hash)+"\n"), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProtection(ProtectOptions{Listen: wildcardListen, WebConfigFile: webCfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	var who atomic.Value
	srv := NewServer(p.Handler(writeMux(&n, &who)), nil)
	done := make(chan error, 1)
	go func() { done <- ServeServer(srv, ln, webCfg, slog.New(slog.DiscardHandler)) }()
	defer func() { srv.Shutdown(context.Background()); <-done }()
	base := "http://" + ln.Addr().String()
	do := func(method, path, user string) int {
		req, _ := http.NewRequest(method, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, "pw-for-prom")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do("GET", "/healthz", ""); c != 200 {
		t.Errorf("/healthz without credentials: %d", c)
	}
	if c := do("GET", "/api/v1/status", ""); c != 401 {
		t.Errorf("/api/v1/status without credentials: %d", c)
	}
	if c := do("POST", "/-/reload", ""); c != 401 || n.Load() != 0 {
		t.Errorf("reload without credentials: %d", c)
	}
	if c := do("POST", "/-/reload", "intruder"); c != 401 || n.Load() != 0 {
		t.Errorf("reload with an unknown user: %d", c)
	}
	if c := do("POST", "/-/reload", "admin"); c != 200 || n.Load() != 1 {
		t.Errorf("reload with credentials: %d", c)
	}
	if w, _ := who.Load().(string); w != "user admin" {
		t.Errorf("actor %q", w)
	}
	if srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.ReadHeaderTimeout == 0 {
		t.Errorf("server timeouts unset: %+v", srv)
	}
}

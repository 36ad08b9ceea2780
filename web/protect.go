package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/exoprobe/exoprobe/internal/actor"
)

// The HTTP server's timeouts: a client that trickles its headers or body,
// or never reads the answer, holds a connection (and a goroutine) only this
// long. WriteTimeout is generous because /metrics of a large fleet takes
// time to write to a slow scraper; a handler that streams for longer (live
// updates) extends its own deadline with http.ResponseController.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 2 * time.Minute
	IdleTimeout       = 2 * time.Minute
)

// NewServer returns an http.Server for h with the timeouts above.
func NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}

// unauthenticatedPaths answer without credentials even when the web config
// turns basic auth on: Kubernetes' and systemd's health checks carry none,
// and the answers reveal nothing ("ok", "ready" or why not).
var unauthenticatedPaths = map[string]bool{"/healthz": true, "/readyz": true}

// ProtectOptions configure NewProtection.
type ProtectOptions struct {
	// Listen is the listener's address; a loopback one lets
	// unauthenticated writes through (only local processes reach it).
	Listen net.Addr
	// WebConfigFile is the exporter-toolkit web config; basic_auth_users
	// in it authenticate every request, writes included.
	WebConfigFile string
	// TokenFile holds a bearer token that authorises writes
	// (Authorization: Bearer <token>); "" means none.
	TokenFile string
	// ExternalNames are the host names clients use to reach the daemon
	// (a Service name, a reverse proxy's name) besides IP addresses,
	// localhost and this machine's name.
	ExternalNames []string
	Logger        *slog.Logger
}

// Protection guards the HTTP surface against foreign pages and
// unauthenticated writes:
//
//   - DNS rebinding: a request whose Host is a name the daemon was not
//     told about is refused, so a page on an attacker's domain that
//     resolves to this host reads and writes nothing;
//   - cross-site writes: a state-changing request a browser marks as
//     cross-site (Sec-Fetch-Site) or whose Origin is not the host it was
//     sent to is refused, so a form on a foreign page cannot reload or
//     silence;
//   - unauthenticated writes: a write needs a basic-auth user (web
//     config), the bearer token, or a loopback listener.
//
// Every method but GET, HEAD and OPTIONS passes Write, so a write handler
// added later is covered without opting in.
type Protection struct {
	loopback bool
	names    map[string]bool
	basic    bool
	token    *fileToken
	log      *slog.Logger
}

// NewProtection checks the options (a token file must exist and hold a
// token of at least 16 characters).
func NewProtection(o ProtectOptions) (*Protection, error) {
	p := &Protection{names: map[string]bool{"localhost": true}, log: o.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	if o.Listen != nil {
		p.loopback = loopbackAddr(o.Listen.String())
		if h, _, err := net.SplitHostPort(o.Listen.String()); err == nil && net.ParseIP(h) == nil && h != "" {
			p.names[normHost(h)] = true
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		p.names[normHost(h)] = true
	}
	for _, n := range o.ExternalNames {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if strings.ContainsAny(n, "/ ") {
			return nil, fmt.Errorf("web: external name %q: want a host name (host or host:port)", n)
		}
		if h, _, err := net.SplitHostPort(n); err == nil {
			n = h
		}
		p.names[normHost(n)] = true
	}
	if o.WebConfigFile != "" {
		users, err := readUsers(o.WebConfigFile)
		if err != nil {
			return nil, err
		}
		p.basic = len(users) > 0
	}
	if o.TokenFile != "" {
		t := &fileToken{path: o.TokenFile}
		if _, err := t.get(); err != nil {
			return nil, err
		}
		p.token = t
	}
	return p, nil
}

// WritesProtected reports whether writes need credentials or a local
// client; false means anyone who reaches the listener can write.
func (p *Protection) WritesProtected() bool { return p.loopback || p.basic || p.token != nil }

// Describe says how writes are protected, for the start-up log.
func (p *Protection) Describe() string {
	var ways []string
	if p.basic {
		ways = append(ways, "basic auth (web config)")
	}
	if p.token != nil {
		ways = append(ways, "bearer token")
	}
	if len(ways) == 0 && p.loopback {
		ways = append(ways, "loopback listener only")
	}
	if len(ways) == 0 {
		return "none: writes are refused (listener beyond loopback, no --web.write-token-file, no basic_auth_users)"
	}
	return strings.Join(ways, ", ")
}

// Handler wraps the whole HTTP surface: the Host check for every request,
// Write for every state-changing method.
func (p *Protection) Handler(next http.Handler) http.Handler {
	write := p.Write(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.hostAllowed(r.Host) {
			p.log.Warn("http: request refused: Host is not one of this daemon's names (DNS rebinding?)",
				"host", r.Host, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			http.Error(w, "Host "+r.Host+" is not one of this daemon's names; add it with --web.external-name", http.StatusMisdirectedRequest)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
		default:
			write.ServeHTTP(w, r)
		}
	})
}

// Write is the one guard every write handler goes through: same-site
// request, then authentication (basic user, bearer token) or a loopback
// listener. The request's context carries who it was (actor.From).
func (p *Protection) Write(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.hostAllowed(r.Host) {
			http.Error(w, "Host "+r.Host+" is not one of this daemon's names", http.StatusMisdirectedRequest)
			return
		}
		if why := crossSite(r); why != "" {
			p.log.Warn("http: write refused: cross-site request", "why", why, "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr)
			http.Error(w, "cross-site request refused: "+why, http.StatusForbidden)
			return
		}
		who, code, msg := p.authorise(r)
		if code != 0 {
			p.log.Warn("http: write refused", "why", msg, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="exoprobe"`)
			}
			http.Error(w, msg, code)
			return
		}
		p.log.Info("http: write", "method", r.Method, "path", r.URL.Path, "who", who, "remote", r.RemoteAddr)
		next.ServeHTTP(w, r.WithContext(actor.With(r.Context(), who)))
	})
}

func (p *Protection) authorise(r *http.Request) (who string, code int, msg string) {
	if u := actor.From(r.Context()); u != "" && p.basic {
		return u, 0, "" // checked by the basic-auth layer in front
	}
	if p.token != nil {
		if auth := r.Header.Get("Authorization"); auth != "" {
			scheme, tok, _ := strings.Cut(auth, " ")
			want, err := p.token.get()
			if err != nil {
				p.log.Error("http: write token unreadable", "err", err)
				return "", http.StatusServiceUnavailable, "write token unreadable"
			}
			if strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), want) == 1 {
				return "bearer token", 0, ""
			}
			return "", http.StatusUnauthorized, "wrong credentials"
		}
		return "", http.StatusUnauthorized, "authentication required: Authorization: Bearer <token from --web.write-token-file>"
	}
	if p.basic {
		return "", http.StatusUnauthorized, "authentication required"
	}
	if p.loopback {
		return "loopback (unauthenticated)", 0, ""
	}
	return "", http.StatusForbidden, "writes are disabled: the listener is not loopback-only and neither " +
		"--web.write-token-file nor basic_auth_users (--web.config.file) is set"
}

// crossSite returns why a state-changing request came from another site,
// or "". Browsers send Sec-Fetch-Site and Origin on cross-site POSTs (form
// or fetch) and a page cannot forge either; curl and scripts send neither.
func crossSite(r *http.Request) string {
	switch s := r.Header.Get("Sec-Fetch-Site"); s {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site: " + s
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return ""
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return "Origin: " + o // "null" (sandboxed frames, file: pages)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return ""
	}
	// Behind a reverse proxy the page's origin is the proxy's, which it
	// passes on in X-Forwarded-Host; a cross-site form cannot set it.
	for _, h := range strings.Split(r.Header.Get("X-Forwarded-Host"), ",") {
		if h = strings.TrimSpace(h); h != "" && strings.EqualFold(u.Host, h) {
			return ""
		}
	}
	return "Origin " + o + " is not " + r.Host
}

// hostAllowed: an IP literal cannot be rebound (rebinding needs the
// attacker's name in Host); a name must be one the daemon knows.
func (p *Protection) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: not a browser
	}
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if net.ParseIP(h) != nil {
		return true
	}
	h = normHost(h)
	return p.names[h] || strings.HasSuffix(h, ".localhost")
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// loopbackAddr reports whether a listen address accepts only local
// clients: 127.0.0.0/8, ::1 or localhost (not ":9465" or 0.0.0.0).
func loopbackAddr(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		h = addr
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// fileToken is the write token, re-read when its file changes (a rotated
// Kubernetes Secret).
type fileToken struct {
	path  string
	mu    sync.Mutex
	mod   time.Time
	size  int64
	token []byte
}

func (t *fileToken) get() ([]byte, error) {
	fi, err := os.Stat(t.path)
	if err != nil {
		return nil, fmt.Errorf("web: write token file: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != nil && fi.ModTime().Equal(t.mod) && fi.Size() == t.size {
		return t.token, nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return nil, fmt.Errorf("web: write token file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < 16 {
		return nil, fmt.Errorf("web: write token file %s: the token must be at least 16 characters (e.g. openssl rand -hex 32)", t.path)
	}
	t.token, t.mod, t.size = b, fi.ModTime(), fi.Size()
	return t.token, nil
}

// readUsers returns the web config's basic_auth_users (user → bcrypt hash).
func readUsers(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("web: config %s: %w", path, err)
	}
	var c struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("web: config %s: %w", path, err)
	}
	return c.Users, nil
}

// basicAuth enforces the web config's basic_auth_users in front of h,
// except on the health paths; exporter-toolkit would demand them on every
// path, so Serve hands it the config without its users (toolkitConfig).
// Users are re-read when the file changes, as the toolkit does.
type basicAuth struct {
	path string
	next http.Handler
	log  *slog.Logger

	mu    sync.Mutex
	mod   time.Time
	users map[string]string
	cache map[[32]byte]bool
	bc    sync.Mutex // one bcrypt at a time: it is CPU-heavy by design
}

// fakeHash is compared against for an unknown user, so that timing does
// not tell which users exist (made once, when first needed).
var fakeHash = sync.OnceValue(func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte(time.Now().String()), bcrypt.DefaultCost)
	return string(h)
})

func (a *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if unauthenticatedPaths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		a.next.ServeHTTP(w, r)
		return
	}
	users, err := a.load()
	if err != nil {
		a.log.Error("http: web config unreadable", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if len(users) == 0 {
		a.next.ServeHTTP(w, r)
		return
	}
	if user, pass, ok := r.BasicAuth(); ok && a.check(users, user, pass) {
		a.next.ServeHTTP(w, r.WithContext(actor.With(r.Context(), "user "+user)))
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="exoprobe"`)
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}

func (a *basicAuth) load() (map[string]string, error) {
	fi, err := os.Stat(a.path)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users != nil && fi.ModTime().Equal(a.mod) {
		return a.users, nil
	}
	u, err := readUsers(a.path)
	if err != nil {
		return nil, err
	}
	if u == nil {
		u = map[string]string{}
	}
	a.users, a.mod, a.cache = u, fi.ModTime(), map[[32]byte]bool{}
	return u, nil
}

func (a *basicAuth) check(users map[string]string, user, pass string) bool {
	hash, known := users[user]
	if !known {
		hash = fakeHash()
	}
	key := sha256.Sum256([]byte(user + "\x00" + hash + "\x00" + pass))
	a.mu.Lock()
	ok, cached := a.cache[key]
	a.mu.Unlock()
	if !cached {
		a.bc.Lock()
		ok = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil
		a.bc.Unlock()
		a.mu.Lock()
		if len(a.cache) > 1000 {
			clear(a.cache)
		}
		a.cache[key] = ok
		a.mu.Unlock()
	}
	return ok && known
}

// toolkitConfig returns the web config for exporter-toolkit: the file
// itself when it has no users, else a copy without basic_auth_users (which
// basicAuth enforces) whose relative paths are made absolute. cleanup
// removes the copy.
func toolkitConfig(path string) (string, func(), error) {
	none := func() {}
	if path == "" {
		return "", none, nil
	}
	users, err := readUsers(path)
	if err != nil || len(users) == 0 {
		return path, none, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", none, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return "", none, fmt.Errorf("web: config %s: %w", path, err)
	}
	delete(m, "basic_auth_users")
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return "", none, err
	}
	if tls, ok := m["tls_server_config"].(map[string]any); ok {
		for _, k := range []string{"cert_file", "key_file", "client_ca_file"} {
			if s, ok := tls[k].(string); ok && s != "" && !filepath.IsAbs(s) {
				tls[k] = filepath.Join(dir, s)
			}
		}
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return "", none, err
	}
	f, err := os.CreateTemp("", "exoprobe-web-*.yml")
	if err != nil {
		return "", none, fmt.Errorf("web: config copy: %w", err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", none, err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", none, err
	}
	return f.Name(), func() { os.Remove(f.Name()) }, nil
}

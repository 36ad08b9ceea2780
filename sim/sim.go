package sim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exoprobe/exoprobe/sim/adminapi"
	"github.com/exoprobe/exoprobe/sim/cmdlet"
	"github.com/exoprobe/exoprobe/sim/entra"
	"github.com/exoprobe/exoprobe/sim/graph"
	"github.com/exoprobe/exoprobe/sim/imapd"
	"github.com/exoprobe/exoprobe/sim/pop3d"
	"github.com/exoprobe/exoprobe/sim/smtpd"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

// Port offsets from Options.PortBase.
const (
	OffsetIMAPTLS = iota
	OffsetIMAPStartTLS
	OffsetPOPTLS
	OffsetPOPSTLS
	OffsetSMTPStartTLS
	OffsetToken
	OffsetAdmin
	portCount
)

// Options configures Start.
type Options struct {
	// DataDir holds ca.pem (and its key, 0600), admin-token (0600),
	// endpoints.json, state.json and the demo app's certificate. Required;
	// created if missing.
	DataDir string
	// PortBase: 0 picks free ports; otherwise the layout in the package doc.
	PortBase int
	// ListenHost is where the mail and token servers listen (default
	// 127.0.0.1). The admin endpoint always listens on 127.0.0.1.
	ListenHost string
	// State: nil loads DataDir/state.json when present, else tenant.Demo().
	State *tenant.State
	// PropagationDelay overrides the state's authentication-policy delay.
	PropagationDelay *time.Duration
	Logger           *slog.Logger
}

// Sim is a running emulator.
type Sim struct {
	opts      Options
	log       *slog.Logger
	tenant    *tenant.Tenant
	interp    *cmdlet.Interpreter
	endpoints Endpoints

	imap *imapd.Server
	pop  *pop3d.Server
	smtp *smtpd.Server
	web  []*http.Server

	lock *dirLock // held until Close

	wg        sync.WaitGroup
	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Start builds the tenant, opens every listener and starts serving. On
// error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Sim, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("sim: Options.DataDir is required")
	}
	if opts.ListenHost == "" {
		opts.ListenHost = "127.0.0.1"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PortBase < 0 || opts.PortBase+portCount-1 > 65535 {
		return nil, fmt.Errorf("sim: port base %d out of range", opts.PortBase)
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("sim: data dir: %w", err)
	}
	opts.DataDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: data dir: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// One emulator per data dir: two would overwrite each other's
	// endpoints.json, admin token and state.json.
	lock, err := lockDataDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()

	state := opts.State
	if state == nil {
		state, err = LoadState(filepath.Join(dir, StateFile))
		if err != nil {
			return nil, err
		}
	}
	if opts.PropagationDelay != nil {
		state.PropagationDelay = tenant.Duration(*opts.PropagationDelay)
	}
	now := time.Now()
	ca, err := loadOrCreateCA(dir, now)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.serverCert(opts.ListenHost, now)
	if err != nil {
		return nil, err
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	adminToken, err := newAdminToken()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, AdminTokenFile), []byte(adminToken+"\n"), 0o600); err != nil {
		return nil, err
	}

	s := &Sim{opts: opts, log: opts.Logger.With("component", "sim"), tenant: tenant.New(state), lock: lock}
	s.interp = cmdlet.New(s.tenant)

	// Every listener first, so that a busy port fails Start before any
	// server runs.
	var lns [portCount]net.Listener
	defer func() {
		if err != nil {
			for _, ln := range lns {
				if ln != nil {
					ln.Close()
				}
			}
		}
	}()
	lc := net.ListenConfig{}
	for i := range portCount {
		host := opts.ListenHost
		if i == OffsetAdmin {
			host = "127.0.0.1"
		}
		port := 0
		if opts.PortBase != 0 {
			port = opts.PortBase + i
		}
		lns[i], err = lc.Listen(ctx, "tcp", hostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("sim: listen: %w", err)
		}
	}
	addr := func(i int) string { return lns[i].Addr().String() }

	e := &s.endpoints
	e.IMAP.TLS, e.IMAP.StartTLS = addr(OffsetIMAPTLS), addr(OffsetIMAPStartTLS)
	e.POP.TLS, e.POP.StartTLS = addr(OffsetPOPTLS), addr(OffsetPOPSTLS)
	e.SMTP.StartTLS = addr(OffsetSMTPStartTLS)
	e.Authority = "https://" + addr(OffsetToken) + "/" + state.ID
	e.TokenURL = e.Authority + "/oauth2/v2.0/token"
	e.OpenIDConfiguration = e.Authority + "/v2.0/.well-known/openid-configuration"
	// Graph and the Exchange admin API share the token endpoint's HTTPS
	// listener, told apart by path (real hosts: graph.microsoft.com,
	// outlook.office365.com; tenant-api.md §0).
	e.GraphURL = "https://" + addr(OffsetToken)
	e.GraphScope = tenant.ResourceGraph + "/.default"
	e.ExchangeAdminURL = "https://" + addr(OffsetToken)
	e.InvokeCommandURL = e.ExchangeAdminURL + "/adminapi/beta/" + state.ID + "/InvokeCommand"
	e.ExchangeScope = tenant.ResourceOutlook365 + "/.default"
	e.AdminURL = "http://" + addr(OffsetAdmin)
	e.AdminTokenFile = filepath.Join(dir, AdminTokenFile)
	e.CAFile = filepath.Join(dir, CAFile)
	e.ServerNames = append([]string{}, ServerNames...)
	e.StateFile = filepath.Join(dir, StateFile)
	if err := s.writeEndpoints(); err != nil {
		return nil, err
	}

	s.imap = imapd.NewServer(imapd.Config{Auth: s.tenant, TLS: serverTLS, Logger: opts.Logger})
	s.pop = pop3d.NewServer(pop3d.Config{Auth: s.tenant, TLS: serverTLS, Logger: opts.Logger})
	s.smtp = smtpd.NewServer(smtpd.Config{Auth: s.tenant, TLS: serverTLS, Logger: opts.Logger})
	s.serve("imap tls", func() error { return s.imap.Serve(lns[OffsetIMAPTLS], true) })
	s.serve("imap starttls", func() error { return s.imap.Serve(lns[OffsetIMAPStartTLS], false) })
	s.serve("pop tls", func() error { return s.pop.Serve(lns[OffsetPOPTLS], true) })
	s.serve("pop stls", func() error { return s.pop.Serve(lns[OffsetPOPSTLS], false) })
	s.serve("smtp starttls", func() error { return s.smtp.Serve(lns[OffsetSMTPStartTLS], false) })

	tokenSrv := &http.Server{
		Handler: httpsHandler(s.tenant, s.interp, opts.Logger),
		// A copy: net/http's HTTP/2 set-up writes NextProtos into the
		// config it is given, which the mail servers are reading.
		TLSConfig:         serverTLS.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	adminSrv := &http.Server{
		Handler:           cmdlet.AdminHandler(s.interp, adminToken),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	s.web = []*http.Server{tokenSrv, adminSrv}
	s.serve("token https", func() error { return tokenSrv.ServeTLS(lns[OffsetToken], "", "") })
	s.serve("admin http", func() error { return adminSrv.Serve(lns[OffsetAdmin]) })
	return s, nil
}

// httpsHandler routes the HTTPS listener: /v1.0/ and /beta/ to Graph,
// /adminapi/ to Exchange's admin API, everything else to Entra.
func httpsHandler(t *tenant.Tenant, in *cmdlet.Interpreter, log *slog.Logger) http.Handler {
	g := graph.Handler(t, log)
	a := adminapi.Handler(t, in, log)
	e := entra.HandlerWithLogger(t, log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/v1.0/"), strings.HasPrefix(p, "/beta/"):
			g.ServeHTTP(w, r)
		case strings.HasPrefix(p, "/adminapi/"):
			a.ServeHTTP(w, r)
		default:
			e.ServeHTTP(w, r)
		}
	})
}

// serve runs one server loop; an exit other than by Close is logged.
func (s *Sim) serve(name string, run func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := run(); err != nil && !s.closing.Load() {
			s.log.Error("server stopped", "server", name, "err", err)
		}
	}()
}

// Endpoints returns what endpoints.json holds, refreshed from the tenant
// (users and apps change with cmdlets).
func (s *Sim) Endpoints() Endpoints {
	e := s.endpoints
	s.tenant.View(func(st *tenant.State) { tenantInfo(&e, st, s.opts.DataDir) })
	return e
}

// Tenant is the emulated tenant.
func (s *Sim) Tenant() *tenant.Tenant { return s.tenant }

// Exec runs one cmdlet line, as `exoprobe sim exec` does over HTTP.
func (s *Sim) Exec(ctx context.Context, line string) (string, error) {
	return s.interp.Exec(ctx, line)
}

// writeEndpoints writes endpoints.json and the demo app's certificate.
func (s *Sim) writeEndpoints() error {
	e := s.endpoints
	var demo tenant.DemoInfo
	var haveDemo bool
	s.tenant.View(func(st *tenant.State) {
		tenantInfo(&e, st, s.opts.DataDir)
		demo, haveDemo = st.DemoInfo()
	})
	if haveDemo && e.Demo != nil && e.Demo.CertFile != "" {
		if err := writeFileAtomic(e.Demo.CertFile, []byte(demo.CertificatePEM), 0o644); err != nil {
			return err
		}
		if err := writeFileAtomic(e.Demo.KeyFile, []byte(demo.KeyPEM), 0o600); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: endpoints: %w", err)
	}
	// 0600: it carries the emulator's test credentials.
	return writeFileAtomic(filepath.Join(s.opts.DataDir, EndpointsFile), append(b, '\n'), 0o600)
}

// Close stops every server and goroutine and saves the state to
// DataDir/state.json. It is safe to call more than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, h := range s.web {
			if err := h.Shutdown(ctx); err != nil {
				h.Close()
			}
		}
		for _, c := range []interface{ Close() error }{s.imap, s.pop, s.smtp} {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		s.wg.Wait()
		if err := s.SaveState(); err != nil {
			errs = append(errs, err)
		}
		s.lock.release()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// SaveState writes the tenant's state to DataDir/state.json now (Close
// does so too).
func (s *Sim) SaveState() error {
	if err := s.tenant.Save(filepath.Join(s.opts.DataDir, StateFile)); err != nil {
		return fmt.Errorf("sim: save state: %w", err)
	}
	return nil
}

// LoadState reads a saved state, or returns a fresh demo tenant when the
// file does not exist.
func LoadState(path string) (*tenant.State, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return tenant.Demo(), nil
	}
	st, err := tenant.Load(path)
	if err != nil {
		return nil, fmt.Errorf("sim: state: %w", err)
	}
	return st, nil
}

func newAdminToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sim: admin token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/cluster"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/probe/token"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/store"
	"github.com/exoprobe/exoprobe/web"
	"go.yaml.in/yaml/v3"
)

func init() {
	register("run", "run the monitoring daemon (scheduler, state, HTTP)", runCmd)
}

// httpMounts is the seam for the HTTP surface built elsewhere (package web:
// /metrics, /api/v1/..., the status page): a file of this command adds
// itself from its init with mountHTTP, and gets the daemon's Runtime.
var httpMounts []func(mux *http.ServeMux, rt *Runtime)

func mountHTTP(f func(mux *http.ServeMux, rt *Runtime)) { httpMounts = append(httpMounts, f) }

// Runtime is the running daemon as the HTTP surface and the alerts see it.
type Runtime struct {
	Scheduler *scheduler.Scheduler
	// Store is nil without --data-dir (state then lives in memory).
	Store *store.DB
	Log   *slog.Logger
	// Metrics is the registry /metrics serves; the alerts register there.
	Metrics *prometheus.Registry
	// Alerts is nil when alerting is off (no --data-dir: no outbox). It is
	// the manager the daemon started with; a reload that changes the
	// alerts section replaces it: use AlertManager for the current one.
	Alerts *alerts.Manager
	// Cluster is nil for a single instance (no --cluster.* flags).
	Cluster *cluster.Peer
	// alerts runs and replaces the manager; nil without --data-dir.
	alerts *alertSwitch
	// SparseCauses is --web.sparse-causes.
	SparseCauses bool
	// SparseAbove is --web.sparse-above.
	SparseAbove int
	// Tenants keeps the tenant reads (nil in tests that build a Runtime
	// by hand).
	Tenants *tenantService
	// schedulerRunning is true while the scheduler's loop runs: /readyz
	// answers 503 before it starts and once shutdown has begun.
	schedulerRunning atomic.Bool

	cfgPath string
	mu      sync.Mutex
	cfg     *config.Config
	// Reload figures, for metrics.
	ReloadsOK, ReloadsFailed atomic.Int64
	lastReloadErr            error
	lastReload               time.Time
	lastSuccess              time.Time
}

// AlertManager returns the alert manager in force (nil when alerting is
// off).
func (rt *Runtime) AlertManager() *alerts.Manager {
	if rt.alerts == nil {
		return nil
	}
	return rt.alerts.Manager()
}

// LastSuccess returns when a configuration was last loaded by a reload
// (zero before the first successful reload).
func (rt *Runtime) LastSuccess() time.Time {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.lastSuccess
}

// Config returns the configuration in force.
func (rt *Runtime) Config() *config.Config {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.cfg
}

// LastReload returns when the last reload attempt ran and its error.
func (rt *Runtime) LastReload() (time.Time, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.lastReload, rt.lastReloadErr
}

// Reload reads the file again; a bad file keeps the old configuration
// running and returns the error.
func (rt *Runtime) Reload() error {
	err := rt.reload()
	rt.mu.Lock()
	rt.lastReload, rt.lastReloadErr = time.Now(), err
	if err == nil {
		rt.lastSuccess = rt.lastReload
	}
	rt.mu.Unlock()
	if err != nil {
		rt.ReloadsFailed.Add(1)
		rt.Log.Error("config reload failed; the previous configuration stays in force", "config", rt.cfgPath, "err", err)
		return err
	}
	rt.ReloadsOK.Add(1)
	rt.Log.Info("config reloaded", "config", rt.cfgPath, "checks", len(rt.Scheduler.Snapshot()))
	return nil
}

func (rt *Runtime) reload() error {
	cfg, err := config.Load(rt.cfgPath)
	if err != nil {
		return err
	}
	specs, err := buildSpecs(cfg, rt.Log)
	if err != nil {
		return err
	}
	if _, _, err := alertsSection(cfg); err != nil {
		return err
	}
	if rt.Tenants != nil {
		if err := rt.Tenants.Configure(cfg); err != nil {
			return err
		}
	}
	if err := rt.Scheduler.SetChecks(specs); err != nil {
		return err
	}
	rt.mu.Lock()
	old := rt.cfg
	rt.cfg = cfg
	rt.mu.Unlock()
	if !alertsEqual(&old.Alerts, &cfg.Alerts) {
		if rt.alerts == nil {
			rt.Log.Warn("the alerts section changed, but alerts are disabled without --data-dir", "config", rt.cfgPath)
			return nil
		}
		// A new manager on the same store, as after a restart: queued
		// notifications, groups and API silences carry over.
		if err := rt.alerts.apply(cfg, old); err != nil {
			return fmt.Errorf("the checks were reloaded, but the alerts section could not be applied "+
				"(the previous alert settings stay in force): %w", err)
		}
		rt.Log.Info("alerts section changed: the new alert settings are in force", "config", rt.cfgPath,
			"sinks", len(mgrSinks(rt.AlertManager())))
	}
	return nil
}

// alertsSection parses and builds the alerts section, so that a bad one
// fails a load or a reload like any other configuration error.
func alertsSection(cfg *config.Config) (*alerts.Config, []alerts.Sink, error) {
	ac, err := alerts.ParseConfig(&cfg.Alerts)
	if err != nil {
		return nil, nil, err
	}
	if err := checkAlertApps(cfg, ac); err != nil {
		return nil, nil, err
	}
	sinks, _, err := ac.BuildWith(alertTokens(cfg))
	if err != nil {
		return nil, nil, err
	}
	return ac, sinks, nil
}

// alertsEqual compares two alerts sections by what they say, not where
// they stand in the file (targets added above move their lines).
func alertsEqual(a, b *yaml.Node) bool {
	pa, errA := alerts.ParseConfig(a)
	pb, errB := alerts.ParseConfig(b)
	if errA != nil || errB != nil {
		return false
	}
	for _, c := range []*alerts.Config{pa, pb} {
		for i := range c.Sinks {
			c.Sinks[i].Line = 0
		}
		for i := range c.Routes {
			c.Routes[i].Line = 0
		}
		for i := range c.Silences {
			c.Silences[i].Line = 0
		}
	}
	return reflect.DeepEqual(pa, pb)
}

// runOptions are the daemon's flags; demo builds them too.
type runOptions struct {
	// OwnProcess is set by `exoprobe run`: the daemon is the process, so
	// it sizes the Go runtime's memory limit to its fleet. The demo (which
	// shares its process with the emulator) and tests (which run daemons
	// inside the test binary) leave the process's limit alone.
	OwnProcess bool
	ConfigPath string
	DataDir    string
	Listen     string
	// WebConfigFile is an exporter-toolkit web config (TLS, basic auth)
	// for the HTTP listener; "" serves plain HTTP.
	WebConfigFile string
	Logger        *slog.Logger
	// Prober replaces probe.Run (tests).
	Prober scheduler.Prober
	// Ready, if set, receives the listener's address once serving.
	Ready func(addr string, rt *Runtime)
	// ExtraSinks are added to the alerts section's sinks (the demo's
	// built-in sink and its --webhook/--alertmanager receivers).
	ExtraSinks []alerts.Sink
	// SparseCauses exports exoprobe_check_cause for the current cause only.
	SparseCauses bool
	// Cluster, when set, makes this daemon a member of a cluster of
	// replicas sharing the checks (--cluster.*).
	Cluster *cluster.Config
	// SparseAbove: the fleet-scale metrics above this many checks (0:
	// web's default; negative: never).
	SparseAbove int
	// StateDir keeps the lockout guard's record without DataDir (default
	// $XDG_STATE_HOME/exoprobe or ~/.local/state/exoprobe).
	StateDir string
	// WriteTokenFile holds the bearer token that authorises writes
	// (reload, silences, actions); "" means none.
	WriteTokenFile string
	// ExternalNames are host names clients use besides IPs, localhost and
	// this machine's name (DNS rebinding guard).
	ExternalNames []string
}

// listFlag is a flag that may be repeated and takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "exoprobe.yaml", "configuration file")
	check := fs.Bool("check-config", false, "validate the configuration and exit (0 valid, 2 invalid)")
	dataDir := fs.String("data-dir", "", "directory for persistent state (empty: keep state in memory only)")
	listen := fs.String("listen", "127.0.0.1:9465", "HTTP listen address (/healthz, /-/reload, metrics and status page)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log.format", "logfmt", "log format: logfmt or json (one JSON object per line: time, level, msg, attributes)")
	webConfig := fs.String("web.config.file", "", "exporter-toolkit web config file enabling TLS and/or basic auth on the HTTP listener")
	stateDir := fs.String("state-dir", "", "without --data-dir, where the lockout guard's record is kept across restarts (default $XDG_STATE_HOME/exoprobe or ~/.local/state/exoprobe)")
	writeToken := fs.String("web.write-token-file", "", "file holding a bearer token (16+ characters) that authorises writes: POST /-/reload, the silences API, status page actions")
	var externalNames listFlag
	fs.Var(&externalNames, "web.external-name", "host name clients use to reach the HTTP listener (a Service name, a reverse proxy's name); repeatable or comma-separated. Requests naming another host are refused (DNS rebinding); IP addresses, localhost and this machine's name are always accepted")
	sparseCauses := fs.Bool("web.sparse-causes", false, "export the fleet-scale set of per-check series whatever the number of checks: exoprobe_check_cause and exoprobe_check_status only for the current cause and status (value 1), no per-check durations or last-run times")
	sparseAbove := fs.Int("web.sparse-above", web.DefaultSparseAbove, "export the fleet-scale set of per-check series (see --web.sparse-causes) above this many checks; negative: never")
	clusterFl := addClusterFlags(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return parseExit(err)
	}
	clusterCfg, err := clusterFl.config()
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	if *check {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		// The sinks' secret files exist where the daemon runs, not where a
		// config is reviewed (CI, a laptop): check everything else, as the
		// targets' secrets, read at each attempt, are not read here either.
		if ac, err := alerts.ParseConfig(&cfg.Alerts); err != nil {
			fmt.Fprintf(stderr, "config %s: %v\n", *cfgPath, err)
			return exitUsage
		} else if _, err := ac.Options(nil); err != nil {
			fmt.Fprintf(stderr, "config %s: alerts: %v\n", *cfgPath, err)
			return exitUsage
		} else if err := checkAlertApps(cfg, ac); err != nil {
			fmt.Fprintf(stderr, "config %s: %v\n", *cfgPath, err)
			return exitUsage
		}
		if err := web.ValidateConfig(*webConfig); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
		n := 0
		for _, t := range cfg.Targets {
			n += len(t.Checks)
		}
		fmt.Fprintf(stdout, "%s: valid: %d targets, %d checks\n", *cfgPath, len(cfg.Targets), n)
		return exitOK
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "run: --log-level: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(stderr, *logFormat, lvl)
	if err != nil {
		fmt.Fprintf(stderr, "run: --log.format: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = runDaemon(ctx, runOptions{ConfigPath: *cfgPath, DataDir: *dataDir, Listen: *listen, WebConfigFile: *webConfig, Logger: log,
		SparseCauses: *sparseCauses, SparseAbove: *sparseAbove, WriteTokenFile: *writeToken, ExternalNames: externalNames, StateDir: *stateDir,
		Cluster: clusterCfg, OwnProcess: true})
	var ce *configError
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if err != nil {
		log.Error("exoprobe run", "err", err)
		return exitFail
	}
	return exitOK
}

type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// runDaemon runs until ctx is done: SIGHUP and POST /-/reload reload the
// configuration; on return every goroutine has stopped and the state has
// been flushed.
func runDaemon(ctx context.Context, o runOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return &configError{err}
	}
	specs, err := buildSpecs(cfg, log)
	if err != nil {
		return &configError{err}
	}
	if o.OwnProcess {
		setMemoryLimit(len(specs), log)
	}
	alertCfg, alertSinks, err := alertsSection(cfg)
	if err != nil {
		return &configError{fmt.Errorf("config %s: %w", o.ConfigPath, err)}
	}
	alertSinks = append(alertSinks, o.ExtraSinks...)
	var st scheduler.Store
	var db *store.DB
	if o.DataDir != "" {
		db, err = store.Open(o.DataDir, store.Options{MaxHistory: cfg.Store.HistoryMax,
			MaxHistoryAge: cfg.Store.HistoryMaxAge.D(), MaxEvents: cfg.Store.EventsMax})
		if err != nil {
			return err
		}
		defer db.Close()
		st = db
	} else {
		// The lockout guard's record must outlive the process even so: a
		// restart loop would otherwise reset its count of failed logins.
		dir := o.StateDir
		if dir == "" {
			dir, err = defaultStateDir()
		}
		var gs *guardFileStore
		if err == nil {
			gs, err = openGuardFileStore(dir)
		}
		switch {
		case err == nil:
			st = gs
			log.Warn("no --data-dir: state lives in memory and is lost on restart, except the lockout guard's record",
				"state_dir", dir)
		case hasBasic(specs):
			return &configError{fmt.Errorf("the lockout guard needs durable state for Basic checks "+
				"(a restart must not reset its count of failed logins): %w; give --data-dir or --state-dir", err)}
		default:
			log.Warn("no --data-dir: state lives in memory and is lost on restart", "state_dir_err", err)
		}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.Listen, err)
	}
	defer ln.Close()
	reg := prometheus.NewRegistry()
	errc := make(chan error, 4)
	var mgr *alerts.Manager
	// Tenant reads: their evidence reaches the classifier from a cache
	// refreshed in the background, so a read never delays a probe; the
	// alerts fill their remedies from the same cache.
	tenants := newTenantService(log)
	sw := &alertSwitch{errc: errc}
	tenants.alert = func(tenant string, evaluated []string, conds []alerts.TenantCondition) {
		if m := sw.Manager(); m != nil {
			if err := m.SetTenant(tenant, evaluated, conds); err != nil {
				log.Error("tenant alerts not updated", "tenant", tenant, "err", err)
			}
		}
	}
	sw.options = func(cfg *config.Config) (alerts.Options, bool, error) {
		ac, sinks, err := alertsSection(cfg)
		if err != nil {
			return alerts.Options{}, false, err
		}
		sinks = append(sinks, o.ExtraSinks...)
		// Built without sinks too: silences (API and status page) work
		// before any sink is configured, and are kept when one is added.
		ao, err := ac.Options(sinks)
		if err != nil {
			return ao, false, err
		}
		// A manager built on reload takes the previous one's metrics.
		ao.DB, ao.Registerer, ao.Logger = db.Bolt(), replacingRegisterer{reg}, log
		ao.Remedy = tenants.Remedy
		if ao.StatusURL == "" {
			ao.StatusURL = statusURL(ln.Addr().String(), o.WebConfigFile)
		}
		return ao, true, nil
	}
	_ = alertCfg
	switch {
	case len(alertSinks) == 0 && db == nil:
	case db == nil:
		// The outbox is what makes "none lost, none doubled" true; without
		// a store a restart would lose or repeat alerts, so none are sent.
		log.Warn("no --data-dir: alerts are disabled (their durable outbox needs the store)", "sinks", len(alertSinks))
	default:
		if mgr, err = sw.build(cfg); err != nil {
			return &configError{fmt.Errorf("config %s: %w", o.ConfigPath, err)}
		}
		sw.cur.Store(mgr)
		// The scheduler's commit puts each event into the outbox in the
		// same transaction: a kill -9 right after cannot lose its alert.
		// Through the switch, so that a reload can replace the manager.
		db.OnCommit(sw.CommitHook)
	}
	// A failing check makes its tenant due for an early read (the
	// remedy's names then reflect the change that broke it).
	evSinks := []scheduler.EventSink{tenants}
	if db != nil {
		evSinks = append(evSinks, sw) // wakes the router without waiting for its tick
	}
	var peer *cluster.Peer
	if o.Cluster != nil {
		cc := *o.Cluster
		cc.Logger, cc.Registerer = log, reg
		cc.GuardWindow = cfg.Scheduler.LockoutGuard.Window.D()
		if cc.WebURL == "" {
			cc.WebURL = memberWebURL(ln.Addr().String(), o.WebConfigFile, cc.AdvertiseAddress)
		}
		if peer, err = cluster.New(cc); err != nil {
			return err
		}
		// Runs after the scheduler stopped (deferred later, runs earlier
		// than db.Close): leaving tells the others to take over at once.
		defer peer.Close()
		// The cluster learns every committed event, so that a member
		// taking a check over continues its announced state.
		evSinks = append(evSinks, peer)
	}
	prober := o.Prober
	if prober == nil {
		prober = scheduler.ProberFunc(probe.Run)
	}
	if err := tenants.Configure(cfg); err != nil {
		return &configError{fmt.Errorf("config %s: %w", o.ConfigPath, err)}
	}
	reg.MustRegister(tenantCollector{tenants})
	sc := cfg.Scheduler
	sched, err := scheduler.New(scheduler.Options{
		Prober: prober, ClassifyAt: tenants.ClassifyAt, Store: st, Logger: log,
		MaxInFlight: sc.MaxInFlight, MaxPerHost: sc.MaxPerHost, ConfirmDelay: sc.ConfirmDelay.D(),
		NoConfirm: sc.NoConfirm, FailureThreshold: sc.FailureThreshold, SuccessThreshold: sc.SuccessThreshold,
		GuardLimit: sc.LockoutGuard.Limit, GuardWindow: sc.LockoutGuard.Window.D(), Sinks: evSinks,
		Cluster: clusterOf(peer),
	})
	if err != nil {
		return err
	}
	if err := sched.SetChecks(specs); err != nil {
		return &configError{err}
	}
	rt := &Runtime{Scheduler: sched, Store: db, Log: log, Metrics: reg, Alerts: mgr, cfgPath: o.ConfigPath, cfg: cfg,
		SparseCauses: o.SparseCauses, SparseAbove: o.SparseAbove, Tenants: tenants, Cluster: peer}
	if db != nil {
		rt.alerts = sw
	}

	prot, err := web.NewProtection(web.ProtectOptions{Listen: ln.Addr(), WebConfigFile: o.WebConfigFile,
		TokenFile: o.WriteTokenFile, ExternalNames: o.ExternalNames, Logger: log})
	if err != nil {
		return &configError{err}
	}
	if !prot.WritesProtected() {
		log.Warn("the HTTP listener is reachable beyond loopback and writes are unprotected: POST /-/reload, "+
			"silences and actions are refused until --web.write-token-file or basic_auth_users (--web.config.file) is set",
			"listen", ln.Addr().String())
	}
	srv := web.NewServer(prot.Handler(newMux(rt)), log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(4)
	// Stopped before db.Close (deferred earlier, runs later).
	sw.ctx = ctx
	sw.run(mgr)
	defer sw.close()
	go func() {
		defer wg.Done()
		tenants.Run(ctx)
	}()
	// Set before the listener serves, so /readyz never answers 503 for a
	// daemon whose loop is merely about to start.
	rt.schedulerRunning.Store(true)
	if peer != nil {
		// Until settled the member owns nothing; the scheduler runs
		// meanwhile and picks its checks up at their next slots.
		wg.Go(func() { peer.Settle(ctx) })
	}
	go func() {
		defer wg.Done()
		defer rt.schedulerRunning.Store(false)
		if err := sched.Run(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := web.ServeServer(srv, ln, o.WebConfigFile, log); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			cancel()
		}
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer wg.Done()
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = rt.Reload() // logged and counted inside
			}
		}
	}()
	log.Info("exoprobe running", "listen", ln.Addr().String(), "checks", len(specs), "data_dir", o.DataDir,
		"alert_sinks", len(mgrSinks(mgr)), "writes", prot.Describe())
	if o.Ready != nil {
		o.Ready(ln.Addr().String(), rt)
	}
	<-ctx.Done()
	shCtx, shCancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shCtx)
	shCancel()
	wg.Wait()
	log.Info("exoprobe stopped")
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func newMux(rt *Runtime) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := rt.Reload(); err != nil {
			http.Error(w, "reload failed, previous configuration still in force:\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "reloaded\n")
	})
	if rt.alerts != nil {
		// The manager in force at each request: a reload may replace it.
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m := rt.AlertManager()
			if m == nil {
				http.Error(w, "alerting is off: the alerts section has no sinks", http.StatusNotFound)
				return
			}
			m.SilencesHandler().ServeHTTP(w, r)
		})
		mux.Handle("/api/v1/silences", h)
		mux.Handle("/api/v1/silences/", h)
	} else {
		// Without --data-dir nothing is alerted and a silence has nowhere
		// durable to live: the list is honestly empty, and a write says why
		// instead of a bare 404.
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				io.WriteString(w, "[]\n")
				return
			}
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"silences need --data-dir: without it exoprobe sends no alerts and keeps no silences"}`+"\n")
		})
		mux.Handle("/api/v1/silences", h)
		mux.Handle("/api/v1/silences/", h)
	}
	for _, m := range httpMounts {
		m(mux, rt)
	}
	return mux
}

func mgrSinks(m *alerts.Manager) map[string]string {
	if m == nil {
		return nil
	}
	return m.Sinks()
}

// statusURL is the status page's address for links in alerts when the
// configuration gives none (alerts.status_url): the listener's, with a
// wildcard host replaced by this machine's name, https when the web config
// turns TLS on.
func statusURL(addr, webConfig string) string {
	scheme := "http"
	if webConfig != "" {
		var wc struct {
			TLS struct {
				CertFile string `yaml:"cert_file"`
				Cert     string `yaml:"cert"`
			} `yaml:"tls_server_config"`
		}
		if b, err := os.ReadFile(webConfig); err == nil && yaml.Unmarshal(b, &wc) == nil &&
			(wc.TLS.CertFile != "" || wc.TLS.Cert != "") {
			scheme = "https"
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if h, herr := os.Hostname(); herr == nil && h != "" {
				host = h
			}
		}
		addr = net.JoinHostPort(host, port)
	}
	return scheme + "://" + addr + "/"
}

// buildSpecs turns the configuration into scheduler checks with probe
// targets. A target whose credentials cannot be prepared (missing secret
// file, bad certificate) still gets its checks: their attempts fail and
// say why, rather than the daemon refusing to start over one target.
func buildSpecs(cfg *config.Config, log *slog.Logger) ([]scheduler.CheckSpec, error) {
	reg := &token.Registry{}
	var specs []scheduler.CheckSpec
	for i := range cfg.Targets {
		ct := &cfg.Targets[i]
		t := &probe.Target{
			Name: ct.Name, User: ct.User,
			IMAPAddr: cfg.Addr(ct, "imap"), POPAddr: cfg.Addr(ct, "pop"), SMTPAddr: cfg.Addr(ct, "smtp"),
			IMAPStartTLS: ct.IMAPStartTLS, POPStartTLS: ct.POPStartTLS, SMTPImplicitTLS: ct.SMTPImplicitTLS,
			AllowPlaintext: ct.AllowPlaintext, SMTPSubmitCheck: ct.SMTPSubmitCheck,
		}
		var httpClient *http.Client
		if ct.CAFile != "" {
			pool, err := loadCA(ct.CAFile)
			if err != nil {
				return nil, fmt.Errorf("target %q (line %d): %w", ct.Name, ct.Line, err)
			}
			t.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		if pw := ct.Password(); pw.IsSet() {
			t.Password = func(context.Context) (string, error) { return pw.Value() }
		}
		switch {
		case ct.Token().IsSet():
			t.Token = secretToken{ct.Token()}
		case cfg.App(ct) != nil:
			app := cfg.App(ct)
			if app.CAFile != "" {
				pool, err := loadCA(app.CAFile)
				if err != nil {
					return nil, fmt.Errorf("target %q (line %d): oauth ca_file: %w", ct.Name, ct.Line, err)
				}
				httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
					TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
			}
			mk := func() (probe.TokenSource, error) { return tokenSource(reg, app, ct, httpClient) }
			src, err := mk()
			if err != nil {
				log.Warn("target's OAuth app cannot be prepared yet; its XOAUTH2 checks fail with this error "+
					"until a later attempt can prepare it", "target", ct.Name, "err", err)
				src = &retryingToken{mk: mk}
			}
			t.Token = src
		}
		for j := range ct.Checks {
			ch := &ct.Checks[j]
			exp := scheduler.ExpectOK
			if ch.Expect == "fail" {
				exp = scheduler.ExpectFail
			}
			if ct.AllowPlaintext {
				// Loud on purpose: a server (or anyone on the path) that
				// offers no TLS gets the password or token in clear.
				log.Warn("allow_plaintext: this check sends its credentials WITHOUT TLS when the server offers none; "+
					"anyone on the network path can read them", "target", ct.Name, "check", ch.Protocol+"/"+ch.Mechanism,
					"addr", cfg.Addr(ct, ch.Protocol), "line", ct.Line)
			}
			specs = append(specs, scheduler.CheckSpec{
				Target: t, Labels: ct.Labels, AuthPolicy: ct.AuthPolicy,
				Protocol: probe.Protocol(ch.Protocol), Mechanism: probe.Mechanism(ch.Mechanism), Expect: exp,
				Interval: cfg.EffectiveInterval(ct, ch), Timeout: cfg.EffectiveTimeout(ct, ch),
			})
		}
	}
	return specs, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", path)
	}
	return pool, nil
}

// tokenSource builds the app's token source, shared through reg between
// targets using the same app.
func tokenSource(reg *token.Registry, app *config.OAuthApp, ct *config.Target, hc *http.Client) (probe.TokenSource, error) {
	scope := ""
	if len(app.Scopes) > 0 {
		scope = app.Scopes[0]
	}
	secret := func() (string, error) {
		if !app.ClientSecret().IsSet() {
			return "", nil
		}
		return app.ClientSecret().Value()
	}
	switch {
	case app.RefreshTokenFile != "":
		// Delegated: one token per refresh-token file (per user).
		return reg.Source("rt|"+app.TokenURL+"|"+app.ClientID+"|"+app.RefreshTokenFile, func() (token.Fetcher, error) {
			s, err := secret()
			if err != nil {
				return nil, err
			}
			return token.RefreshToken(token.OAuth2{TokenURL: app.TokenURL, ClientID: app.ClientID, ClientSecret: s,
				Scopes: app.Scopes, HTTPClient: hc}, app.RefreshTokenFile), nil
		})
	case app.TokenURL != "":
		return reg.Source("cc|"+app.TokenURL+"|"+app.ClientID+"|"+scope, func() (token.Fetcher, error) {
			s, err := secret()
			if err != nil {
				return nil, err
			}
			return token.GenericClientCredentials(token.OAuth2{TokenURL: app.TokenURL, ClientID: app.ClientID,
				ClientSecret: s, Scopes: app.Scopes, HTTPClient: hc}), nil
		})
	default:
		return reg.Source("entra|"+app.Authority+"|"+app.Tenant+"|"+app.ClientID+"|"+scope, func() (token.Fetcher, error) {
			e := token.Entra{Authority: app.Authority, Tenant: app.Tenant, ClientID: app.ClientID, Scope: scope, HTTPClient: hc}
			if app.CertFile != "" {
				b, err := os.ReadFile(app.CertFile)
				if err != nil {
					return nil, fmt.Errorf("cert_file: %w", err)
				}
				e.CertPEM = b
			} else {
				s, err := secret()
				if err != nil {
					return nil, fmt.Errorf("client secret (%s): %w", app.ClientSecret(), err)
				}
				e.ClientSecret = s
			}
			return token.ClientCredentials(e)
		})
	}
}

// secretToken reads a ready-made access token at each use, so a token file
// refreshed by another tool is picked up.
type secretToken struct{ s config.Secret }

func (t secretToken) Token(ctx context.Context) (probe.Token, error) {
	v, err := t.s.Value()
	if err != nil {
		return probe.Token{}, &probe.TokenError{Flow: "static", Err: err}
	}
	return probe.StaticToken(v).Token(ctx)
}

// retryingToken prepares an OAuth app's token source at the first attempt
// that can: a client secret or certificate mounted after the daemon started
// is picked up, as passwords are re-read at each attempt. Until then each
// XOAUTH2 attempt reports why the app cannot be prepared.
type retryingToken struct {
	mu  sync.Mutex
	src probe.TokenSource
	mk  func() (probe.TokenSource, error)
}

func (r *retryingToken) Token(ctx context.Context) (probe.Token, error) {
	r.mu.Lock()
	if r.src == nil {
		src, err := r.mk()
		if err != nil {
			r.mu.Unlock()
			return probe.Token{}, &probe.TokenError{Err: err}
		}
		r.src = src
	}
	src := r.src
	r.mu.Unlock()
	return src.Token(ctx)
}

func hasBasic(specs []scheduler.CheckSpec) bool {
	for _, sp := range specs {
		if sp.Mechanism == probe.Basic {
			return true
		}
	}
	return false
}

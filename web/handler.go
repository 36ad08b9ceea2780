package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Source is what the HTTP surface reads. *scheduler.Scheduler satisfies it;
// tests use a fake.
type Source interface {
	// Snapshot returns every check's state, sorted by id.
	Snapshot() []scheduler.CheckState
	// Events returns up to limit events, newest first.
	Events(limit int) ([]scheduler.Event, error)
	// History returns up to limit attempts of a check, newest first.
	History(id scheduler.CheckID, limit int) ([]scheduler.HistoryEntry, error)
}

// StatsSource is optionally implemented by a Source (the scheduler does) to
// publish the scheduler's self-metrics.
type StatsSource interface {
	Stats() scheduler.Stats
}

// ConfigStatus is the daemon's view of its configuration file, for the
// reload self-metrics and the status page.
type ConfigStatus struct {
	// LastReloadOK is false when the latest load or reload failed (the
	// previous configuration keeps running).
	LastReloadOK bool
	// LastReload is when the latest attempt was made; LastSuccess when a
	// file was last loaded successfully.
	LastReload, LastSuccess time.Time
	// Error of the latest failed attempt ("" when it succeeded).
	Error string
	// ReloadsOK and ReloadsFailed count reloads (SIGHUP, POST /-/reload)
	// since the daemon started, for exoprobe_config_reloads_total.
	ReloadsOK, ReloadsFailed int64
}

// Options configure NewHandler. Zero values mean the documented defaults.
type Options struct {
	Logger *slog.Logger
	// ConfigStatus, when set, feeds exoprobe_config_* and the status page.
	ConfigStatus func() ConfigStatus
	// Reload, when set, is mounted as POST /-/reload: it reloads the
	// configuration and answers 500 with the error when the new file is
	// rejected (the old configuration keeps running).
	Reload func(ctx context.Context) error
	// Ready reports whether the daemon is ready to serve (nil: ready).
	Ready func() error
	// Refresh is the status page's auto-refresh period (default 10s;
	// negative turns it off).
	Refresh time.Duration
	// PageEvents is how many recent events the status page lists (default 20).
	PageEvents int
	// SparseCauses exports the fleet-scale set of per-check series
	// whatever the number of checks. SparseAbove switches to it above that
	// many checks (default 5,000; negative: never). The fleet-scale set is
	// exoprobe_check_status and exoprobe_check_cause for the current status
	// and cause only (value 1) instead of one-hot, exoprobe_probe_success,
	// exoprobe_check_expected, exoprobe_token_expiry_timestamp_seconds,
	// exoprobe_check_since_timestamp_seconds only for checks not ok, and
	// exoprobe_lockout_guard_* only for accounts with failures; it drops
	// the per-check exoprobe_probe_duration_seconds and
	// exoprobe_probe_last_run_timestamp_seconds (the API and the history
	// have them). At 60,000 checks the full set is about 2.7 million series.
	SparseCauses bool
	SparseAbove  int
	// Now is the clock for "since" on the status page (default time.Now).
	Now func() time.Time
	// Title of the status page (default "exoprobe").
	Title string
	// Registry, when set, is the registry /metrics serves and the
	// handler's collectors join, so that other parts of the daemon (the
	// alerts) publish on the same endpoint. Nil: a registry of its own.
	Registry *prometheus.Registry
	// AlertDeliveries, when set, feeds the status page's list of recent
	// alert deliveries (newest first, at most limit).
	AlertDeliveries func(limit int) []alerts.Delivery
	// ProbeNow, when set, is POST /api/v1/checks/{id}/probe and the page's
	// "probe now" button (the scheduler's ProbeNow).
	ProbeNow func(id scheduler.CheckID) (bool, error)
	// ClearGuard, when set, is POST /api/v1/guards/clear and the page's
	// "clear guard" button (the scheduler's ClearGuard).
	ClearGuard func(account string) (int, error)
	// Silences, when set, lets the page silence an incident and expire
	// that silence, and shows the silences muting each incident.
	Silences SilenceStore
	// Protect wraps every handler that changes state (the actions above);
	// nil: same-site JSON only (sameSiteJSON). The daemon's write
	// protection plugs in here.
	Protect func(http.Handler) http.Handler
	// Tenants, when set, adds the tenant-reads section to the status page
	// (web/tenants.go).
	Tenants func() []TenantView
	// Remedy, when set, renders the remedies of incidents and checks
	// (nil: diagnose.RemedyForMailboxes); the daemon fills names from
	// the tenant's latest read through it.
	Remedy diagnose.RemedyFunc
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Refresh == 0 {
		o.Refresh = 10 * time.Second
	}
	if o.SparseAbove == 0 {
		o.SparseAbove = DefaultSparseAbove
	}
	if o.PageEvents <= 0 {
		o.PageEvents = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Title == "" {
		o.Title = "exoprobe"
	}
}

type handler struct {
	coll *collector
	src  Source
	opt  Options
	reg  *prometheus.Registry
	page *pageRenderer
}

// NewHandler mounts the whole HTTP surface:
//
//	GET  /                               status page (?lang=ja|en, else Accept-Language)
//	GET  /metrics                        Prometheus metrics (own registry)
//	GET  /api/v1/status                  checks' states: filter and page with ?status= &cause= &target=
//	                                     &protocol= &mechanism= &label=k=v &q= &sort=problems &offset= &limit=
//	                                     (see ParseStatusQuery); totals and counts always cover the fleet
//	GET  /api/v1/checks/{id}             one check ({id} is target/protocol/mechanism, raw or escaped)
//	GET  /api/v1/checks/{id}/history     its attempts, newest first (?limit=)
//	GET  /api/v1/events                  events, newest first (?limit=)
//	GET  /api/v1/readiness               what breaks when Basic auth is turned off
//	GET  /healthz, /readyz
//	POST /-/reload                       when Options.Reload is set
func NewHandler(src Source, opt Options) http.Handler {
	opt.defaults()
	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	h := &handler{src: src, opt: opt, reg: reg, coll: newCollector(src, opt)}
	h.reg.MustRegister(h.coll,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h.page = newPageRenderer()

	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{
		Registry:      h.reg,
		ErrorLog:      slog.NewLogLogger(opt.Logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if h.coll.sparse() {
			h.serveFleetMetrics(w, r)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /api/v1/status", h.status)
	mux.HandleFunc("GET /api/v1/checks/", h.check)
	mux.HandleFunc("GET /api/v1/events", h.events)
	mux.HandleFunc("GET /api/v1/readiness", h.readiness)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	if opt.Reload != nil {
		mux.HandleFunc("POST /-/reload", h.reload)
	}
	h.mountActions(mux)
	mux.HandleFunc("GET /{$}", h.statusPage)
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	return securityHeaders(mux)
}

// securityHeaders: the page loads its stylesheet and its one small
// script from this server and nothing from elsewhere; no inline script or
// style is allowed, so text a server sent can never run.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// limitParam reads ?limit= within [1, max], def when absent.
func limitParam(r *http.Request, def, maxN int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errors.New("limit must be a positive integer")
	}
	return min(n, maxN), nil
}

// StatusResponse is GET /api/v1/status. Summary counts every check by
// status; the page's fields (total, matched, …) are scheduler.Page's.
// Checks carry the compact summary of their latest attempt ("last"); the
// full attempt (transcript, evidence) is at /api/v1/checks/{id}.
type StatusResponse struct {
	Time    time.Time                `json:"time"`
	Summary map[scheduler.Status]int `json:"summary"`
	scheduler.Page
	// Checks shadows Page.Checks to add durations in seconds.
	Checks []CheckJSON `json:"checks"`
	Config *ConfigJSON `json:"config,omitempty"`
}

// ConfigJSON is ConfigStatus in the API.
type ConfigJSON struct {
	LastReloadOK bool      `json:"last_reload_ok"`
	LastReload   time.Time `json:"last_reload,omitzero"`
	LastSuccess  time.Time `json:"last_success,omitzero"`
	Error        string    `json:"error,omitempty"`
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	q, err := ParseStatusQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page := QueryChecks(h.src, q)
	resp := StatusResponse{Time: h.opt.Now().UTC(), Summary: page.Statuses, Page: page}
	resp.Page.Checks = nil
	if h.opt.ConfigStatus != nil {
		cs := h.opt.ConfigStatus()
		resp.Config = &ConfigJSON{LastReloadOK: cs.LastReloadOK, LastReload: cs.LastReload, LastSuccess: cs.LastSuccess, Error: cs.Error}
	}
	writeStatusJSON(w, resp, page.Checks)
}

// parseCheckPath splits "/api/v1/checks/<id>[/history]" where <id> is
// target/protocol/mechanism. The id may come raw (its slashes as path
// separators) or escaped as one segment (%2F); target names may hold
// slashes themselves, so the split is on the last two slashes.
func parseCheckPath(r *http.Request) (id scheduler.CheckID, history bool, ok bool) {
	p := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1/checks/")
	if strings.HasSuffix(p, "/history") {
		p, history = strings.TrimSuffix(p, "/history"), true
	}
	if p == "" {
		return "", false, false
	}
	s, err := url.PathUnescape(p)
	if err != nil {
		return "", false, false
	}
	id = scheduler.CheckID(s)
	if _, _, _, ok := id.Split(); !ok {
		return "", false, false
	}
	return id, history, true
}

func (h *handler) findCheck(id scheduler.CheckID) (scheduler.CheckState, bool) {
	return getCheck(h.src, id)
}

// HistoryResponse is GET /api/v1/checks/{id}/history.
type HistoryResponse struct {
	ID      scheduler.CheckID  `json:"id"`
	History []HistoryEntryJSON `json:"history"`
}

func (h *handler) check(w http.ResponseWriter, r *http.Request) {
	id, history, ok := parseCheckPath(r)
	if !ok {
		writeError(w, http.StatusNotFound, "expected /api/v1/checks/<target>/<protocol>/<mechanism>[/history]")
		return
	}
	st, found := h.findCheck(id)
	if !found {
		writeError(w, http.StatusNotFound, "no such check: "+string(id))
		return
	}
	if !history {
		if f := st.LastFinding; f != nil && f.Remedy.Summary == "" && f.Cause != "" {
			// The scheduler keeps no remedies: render it here, as the
			// status page does.
			c := *f
			c.Remedy = h.opt.Remedy.Render(f.Cause, "en", remedyVars(&st), st.Target, []string{st.User})
			st.LastFinding = &c
		}
		writeJSON(w, http.StatusOK, checkJSON(sanitizeState(st)))
		return
	}
	limit, err := limitParam(r, 100, 10000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hs, err := h.src.History(id, limit)
	if err != nil {
		h.opt.Logger.Error("web: history", "check", id, "err", err)
		writeError(w, http.StatusInternalServerError, "history unavailable")
		return
	}
	out := make([]HistoryEntryJSON, 0, len(hs))
	for _, e := range sanitizeHistory(hs) {
		out = append(out, HistoryEntryJSON{HistoryEntry: e, DurationSeconds: e.Duration.Seconds()})
	}
	writeJSON(w, http.StatusOK, HistoryResponse{ID: id, History: out})
}

// EventsResponse is GET /api/v1/events.
type EventsResponse struct {
	Events []scheduler.Event `json:"events"`
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs, err := h.src.Events(limit)
	if err != nil {
		h.opt.Logger.Error("web: events", "err", err)
		writeError(w, http.StatusInternalServerError, "events unavailable")
		return
	}
	out := make([]scheduler.Event, 0, len(evs))
	for _, ev := range evs {
		out = append(out, sanitizeEvent(ev))
	}
	writeJSON(w, http.StatusOK, EventsResponse{Events: out})
}

func (h *handler) readiness(w http.ResponseWriter, r *http.Request) {
	rd := ComputeReadiness(h.src.Snapshot(), h.opt.Now())
	if h.opt.Tenants != nil {
		addTenantReadiness(&rd, h.opt.Tenants())
	}
	writeJSON(w, http.StatusOK, rd)
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.opt.Ready != nil {
		if err := h.opt.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
	}
	w.Write([]byte("ready\n"))
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := h.opt.Reload(r.Context()); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("reload failed, the previous configuration keeps running: " + err.Error() + "\n"))
		return
	}
	w.Write([]byte("reloaded\n"))
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/inspect"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/web"
)

// tenantService is the daemon's side of tenant reads: for every tenant
// with tenant_reads it keeps the latest snapshot fresh in the background
// (never more often than the TTL nor than the tenant's most frequent
// check), hands it to the classifier (cached only: a read never delays a
// probe or an alert), publishes metrics and the audit, and records
// settings that changed between two reads.
type tenantService struct {
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	tenants  map[string]*tenantState
	byTarget map[string]string // target name -> tenant name
	wake     chan struct{}
}

type tenantState struct {
	name     string
	key      string // the config it was built from, to keep it across reloads
	tr       *tenantReader
	interval time.Duration
	req      inspect.Request

	// Guarded by tenantService.mu.
	latest  *snapshot.Snapshot
	audit   *inspect.Audit
	due     time.Time
	changes []settingChange
	// changeCounts by setting kind, for exoprobe_tenant_setting_changes_total.
	changeCounts map[string]float64
}

// settingChange is one setting that differs between two reads.
type settingChange struct {
	At      time.Time `json:"at"`
	Setting string    `json:"setting"` // bounded kind, the metric label
	Detail  string    `json:"detail"`  // "Get-TransportConfig: SmtpClientAuthenticationDisabled False -> True"
}

const maxChangesKept = 50

func newTenantService(log *slog.Logger) *tenantService {
	return &tenantService{log: log, now: time.Now, tenants: map[string]*tenantState{}, byTarget: map[string]string{}, wake: make(chan struct{}, 1)}
}

// Configure (re)builds the readers from cfg; a tenant whose reads
// configuration is unchanged keeps its reader, cache and history.
func (ts *tenantService) Configure(cfg *config.Config) error {
	next := map[string]*tenantState{}
	byTarget := map[string]string{}
	for _, name := range cfg.TenantNames() {
		ten := cfg.Tenants[name]
		if ten.Reads == nil {
			continue
		}
		// Never more often than the tenant's most frequent check.
		minIv := time.Duration(0)
		req := inspect.Request{AllMailboxes: true, SignIns: ten.Reads.SignInsOn()}
		for i := range cfg.Targets {
			t := &cfg.Targets[i]
			if cfg.TenantOf(t) != name {
				continue
			}
			byTarget[t.Name] = name
			req.Mailboxes = append(req.Mailboxes, t.User)
			for j := range t.Checks {
				if iv := cfg.EffectiveInterval(t, &t.Checks[j]); minIv == 0 || iv < minIv {
					minIv = iv
				}
				if t.Checks[j].Mechanism == "xoauth2" && cfg.App(t) != nil {
					req.Permissions = append(req.Permissions, t.User)
				}
			}
		}
		key := fmt.Sprintf("%+v|%+v|%v", ten.TenantID, *ten.Reads, req)
		ts.mu.Lock()
		old := ts.tenants[name]
		ts.mu.Unlock()
		if old != nil && old.key == key {
			next[name] = old
			continue
		}
		tr, err := readerFromConfig(cfg, name, 0)
		if err != nil {
			return fmt.Errorf("tenants.%s.tenant_reads: %w", name, err)
		}
		req.Apps = tr.apps
		iv := max(tr.reader.TTL(), minIv)
		st := &tenantState{name: name, key: key, tr: tr, interval: iv, req: req, changeCounts: map[string]float64{}}
		if old != nil { // keep the history across a config change
			st.latest, st.audit, st.changes, st.changeCounts = old.latest, old.audit, old.changes, old.changeCounts
		}
		next[name] = st
	}
	ts.mu.Lock()
	ts.tenants, ts.byTarget = next, byTarget
	ts.mu.Unlock()
	select {
	case ts.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run refreshes each tenant when due until ctx ends.
func (ts *tenantService) Run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		ts.refreshDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-ts.wake:
		}
	}
}

func (ts *tenantService) refreshDue(ctx context.Context) {
	ts.mu.Lock()
	var due []*tenantState
	now := ts.now()
	for _, st := range ts.tenants {
		if !now.Before(st.due) {
			due = append(due, st)
		}
	}
	ts.mu.Unlock()
	for _, st := range due {
		if ctx.Err() != nil {
			return
		}
		ts.refresh(ctx, st)
	}
}

// refresh reads one tenant (outside the lock: reads take seconds).
func (ts *tenantService) refresh(ctx context.Context, st *tenantState) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	snap := st.tr.reader.Read(rctx, st.req)
	cancel()
	for i := range snap.Problems {
		snap.Problems[i].Why = scrubAll([]string{snap.Problems[i].Why}, st.tr.secret)[0]
	}
	a := inspect.BuildAudit(snap, inspect.AuditOptions{Now: ts.now, Covered: st.req.Mailboxes, ExpiryWarning: st.tr.expiry, Local: st.tr.localCreds(io.Discard)})
	ts.mu.Lock()
	changes := diffSnapshots(st.latest, snap, ts.now())
	st.latest, st.audit = snap, &a
	st.due = ts.now().Add(st.interval)
	for _, c := range changes {
		st.changeCounts[c.Setting]++
	}
	st.changes = append(st.changes, changes...)
	if n := len(st.changes); n > maxChangesKept {
		st.changes = slices.Clone(st.changes[n-maxChangesKept:])
	}
	ts.mu.Unlock()
	for _, c := range changes {
		ts.log.Warn("tenant setting changed since the last read", "tenant", st.name, "setting", c.Setting, "change", c.Detail)
	}
	for _, p := range snap.Problems {
		ts.log.Info("tenant read degraded", "tenant", st.name, "problem", p.String())
	}
}

// Latest returns the snapshot of the tenant a target belongs to.
func (ts *tenantService) Latest(target string) *snapshot.Snapshot {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if st := ts.tenants[ts.byTarget[target]]; st != nil {
		return st.latest
	}
	return nil
}

// ClassifyAt is diagnose.ClassifyAt with the cached tenant evidence: the
// scheduler classifies one completed attempt at a time, so only that
// attempt's finding is upgraded (ApplyTenant looks at each attempt alone).
func (ts *tenantService) ClassifyAt(attempts []probe.Attempt, i int) diagnose.Finding {
	f := diagnose.ClassifyAt(attempts, i)
	if s := ts.Latest(attempts[i].Target); s != nil {
		return diagnose.ApplyTenant(attempts[i:i+1], []diagnose.Finding{f}, s)[0]
	}
	return f
}

// tenantView is /api/v1/tenants' element: the audit plus recent changes.
type tenantView struct {
	inspect.Audit
	Changes []settingChange `json:"setting_changes"`
	// NextRead: when the daemon reads the tenant again.
	NextRead time.Time `json:"next_read"`
}

// Views returns every tenant's latest audit, by name.
func (ts *tenantService) Views() []tenantView {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := []tenantView{}
	names := make([]string, 0, len(ts.tenants))
	for n := range ts.tenants {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		st := ts.tenants[n]
		if st.audit == nil {
			out = append(out, tenantView{Audit: inspect.Audit{Tenant: n, Problems: []string{"not read yet"}}, Changes: []settingChange{}, NextRead: st.due})
			continue
		}
		out = append(out, tenantView{Audit: *st.audit, Changes: append([]settingChange{}, st.changes...), NextRead: st.due})
	}
	return out
}

func (ts *tenantService) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"tenants": ts.Views()})
}

// diffSnapshots lists settings that differ between two reads; parts not
// read in either are not compared (a failed read is not a change).
func diffSnapshots(prev, cur *snapshot.Snapshot, now time.Time) []settingChange {
	if prev == nil || cur == nil {
		return nil
	}
	var out []settingChange
	add := func(kind, format string, a ...any) {
		out = append(out, settingChange{At: now, Setting: kind, Detail: fmt.Sprintf(format, a...)})
	}
	if prev.TransportConfig != nil && cur.TransportConfig != nil && *prev.TransportConfig != *cur.TransportConfig {
		add("transport_config", "Get-TransportConfig: SmtpClientAuthenticationDisabled %s -> %s",
			boolWord(prev.TransportConfig.SmtpClientAuthenticationDisabled), boolWord(cur.TransportConfig.SmtpClientAuthenticationDisabled))
	}
	if prev.SecurityDefaults != nil && cur.SecurityDefaults != nil && *prev.SecurityDefaults != *cur.SecurityDefaults {
		add("security_defaults", "security defaults: isEnabled %t -> %t", prev.SecurityDefaults.IsEnabled, cur.SecurityDefaults.IsEnabled)
	}
	if prev.OrganizationConfig != nil && cur.OrganizationConfig != nil {
		a, b := strPtr(prev.OrganizationConfig.DefaultAuthenticationPolicy), strPtr(cur.OrganizationConfig.DefaultAuthenticationPolicy)
		if a != b {
			add("default_authentication_policy", "Get-OrganizationConfig: DefaultAuthenticationPolicy %s -> %s", a, b)
		}
	}
	if prev.PoliciesRead && cur.PoliciesRead {
		old := map[string]snapshot.AuthenticationPolicy{}
		for _, p := range prev.AuthenticationPolicies {
			old[strings.ToLower(p.Name)] = p
		}
		for _, p := range cur.AuthenticationPolicies {
			o, ok := old[strings.ToLower(p.Name)]
			switch {
			case !ok:
				add("authentication_policy", "authentication policy %s created (SMTP %t, IMAP %t, POP %t)", p.Name, p.AllowBasicAuthSmtp, p.AllowBasicAuthImap, p.AllowBasicAuthPop)
			case o.AllowBasicAuthSmtp != p.AllowBasicAuthSmtp || o.AllowBasicAuthImap != p.AllowBasicAuthImap || o.AllowBasicAuthPop != p.AllowBasicAuthPop:
				add("authentication_policy", "Get-AuthenticationPolicy %s: AllowBasicAuthSmtp/Imap/Pop %t/%t/%t -> %t/%t/%t", p.Name,
					o.AllowBasicAuthSmtp, o.AllowBasicAuthImap, o.AllowBasicAuthPop, p.AllowBasicAuthSmtp, p.AllowBasicAuthImap, p.AllowBasicAuthPop)
			}
			delete(old, strings.ToLower(p.Name))
		}
		for _, p := range old {
			add("authentication_policy", "authentication policy %s removed", p.Name)
		}
	}
	for k, pm := range prev.Mailboxes {
		cm := cur.Mailboxes[k]
		if cm == nil || !pm.Found || !cm.Found {
			continue
		}
		if pm.CASRead && cm.CASRead {
			for _, f := range []struct {
				name string
				a, b *bool
			}{{"SmtpClientAuthenticationDisabled", pm.SmtpClientAuthenticationDisabled, cm.SmtpClientAuthenticationDisabled},
				{"ImapEnabled", pm.ImapEnabled, cm.ImapEnabled}, {"PopEnabled", pm.PopEnabled, cm.PopEnabled}} {
				if !reflect.DeepEqual(f.a, f.b) {
					add("mailbox_cas", "Get-CASMailbox %s: %s %s -> %s", k, f.name, boolText(f.a, "blank"), boolText(f.b, "blank"))
				}
			}
		}
		if pm.UserRead && cm.UserRead && strPtr(pm.AuthenticationPolicy) != strPtr(cm.AuthenticationPolicy) {
			add("mailbox_policy", "Get-User %s: AuthenticationPolicy %s -> %s", k, strPtr(pm.AuthenticationPolicy), strPtr(cm.AuthenticationPolicy))
		}
	}
	if prev.ConditionalAccessRead && cur.ConditionalAccessRead {
		old := map[string]string{}
		for _, p := range prev.ConditionalAccess {
			old[p.ID] = p.State
		}
		for _, p := range cur.ConditionalAccess {
			if s, ok := old[p.ID]; !ok || s != p.State {
				from := s
				if !ok {
					from = "(new)"
				}
				add("conditional_access", "Conditional Access %s: state %s -> %s", p.DisplayName, from, p.State)
			}
		}
	}
	return out
}

func boolWord(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func strPtr(p *string) string {
	if p == nil || *p == "" {
		return "(none)"
	}
	return *p
}

// tenantCollector publishes the tenants' state (bounded labels: tenant,
// protocol, setting kind, problem kind; credentials by app and key id,
// which the configuration bounds).
type tenantCollector struct{ ts *tenantService }

var (
	descTenantLastRead = prometheus.NewDesc("exoprobe_tenant_last_read_timestamp_seconds",
		"When the tenant's settings were last read.", []string{"tenant"}, nil)
	descTenantProblems = prometheus.NewDesc("exoprobe_tenant_read_problems",
		"Parts of the last tenant read that could not be read, by kind (permission_missing, licence_missing, throttled, timeout, ...).", []string{"tenant", "kind"}, nil)
	descTenantSMTPOff = prometheus.NewDesc("exoprobe_tenant_smtp_auth_disabled",
		"Get-TransportConfig SmtpClientAuthenticationDisabled (1 = SMTP AUTH off for the organization).", []string{"tenant"}, nil)
	descTenantSecDef = prometheus.NewDesc("exoprobe_tenant_security_defaults_enabled",
		"Microsoft Entra security defaults (1 = on: legacy authentication blocked).", []string{"tenant"}, nil)
	descCredExpiry = prometheus.NewDesc("exoprobe_app_credential_expiry_timestamp_seconds",
		"When an app secret or certificate expires (watched apps, and local certificate files).", []string{"tenant", "app_id", "type", "key_id", "source"}, nil)
	descBasicSignIns = prometheus.NewDesc("exoprobe_tenant_basic_signins",
		"Successful Basic sign-ins in the sign-in log's window, by protocol.", []string{"tenant", "protocol"}, nil)
	descBasicUsers = prometheus.NewDesc("exoprobe_tenant_basic_signin_users",
		"Distinct users with a successful Basic sign-in in the window, by protocol.", []string{"tenant", "protocol"}, nil)
	descBasicUncovered = prometheus.NewDesc("exoprobe_tenant_basic_signin_uncovered_users",
		"Users with a successful Basic sign-in that no exoprobe check covers, by protocol.", []string{"tenant", "protocol"}, nil)
	descCutoff = prometheus.NewDesc("exoprobe_tenant_basic_smtp_cutoff_timestamp_seconds",
		"When Microsoft turns Basic SMTP AUTH off by default for existing tenants.", nil, nil)
	descChanges = prometheus.NewDesc("exoprobe_tenant_setting_changes_total",
		"Tenant settings seen to change between two reads, by setting kind.", []string{"tenant", "setting"}, nil)
)

func (c tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTenantLastRead, descTenantProblems, descTenantSMTPOff, descTenantSecDef, descCredExpiry,
		descBasicSignIns, descBasicUsers, descBasicUncovered, descCutoff, descChanges} {
		ch <- d
	}
}

func (c tenantCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descCutoff, prometheus.GaugeValue, float64(inspect.BasicSMTPCutoff.Unix()))
	c.ts.mu.Lock()
	defer c.ts.mu.Unlock()
	for name, st := range c.ts.tenants {
		for _, kind := range []string{"transport_config", "security_defaults", "default_authentication_policy", "authentication_policy", "mailbox_cas", "mailbox_policy", "conditional_access"} {
			ch <- prometheus.MustNewConstMetric(descChanges, prometheus.CounterValue, st.changeCounts[kind], name, kind)
		}
		s, a := st.latest, st.audit
		if s == nil || a == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descTenantLastRead, prometheus.GaugeValue, float64(s.ReadAt.Unix()), name)
		kinds := map[string]float64{}
		for _, p := range s.Problems {
			kinds[p.Kind]++
		}
		for k, n := range kinds {
			ch <- prometheus.MustNewConstMetric(descTenantProblems, prometheus.GaugeValue, n, name, k)
		}
		if s.TransportConfig != nil {
			ch <- prometheus.MustNewConstMetric(descTenantSMTPOff, prometheus.GaugeValue, b2f(s.TransportConfig.SmtpClientAuthenticationDisabled), name)
		}
		if s.SecurityDefaults != nil {
			ch <- prometheus.MustNewConstMetric(descTenantSecDef, prometheus.GaugeValue, b2f(s.SecurityDefaults.IsEnabled), name)
		}
		seen := map[string]bool{}
		for _, cr := range a.AppCredentials {
			k := cr.AppID + "|" + cr.Type + "|" + cr.KeyID + "|" + cr.Source
			if seen[k] {
				continue
			}
			seen[k] = true
			app := cr.AppID
			if app == "" {
				app = cr.Source // a local certificate file: no app id
			}
			ch <- prometheus.MustNewConstMetric(descCredExpiry, prometheus.GaugeValue, float64(cr.EndDateTime.Unix()), name, app, cr.Type, cr.KeyID, cr.Source)
		}
		if !s.SignInsRead {
			continue
		}
		for _, proto := range []string{"smtp", "imap", "pop"} {
			n, users, uncovered := 0.0, map[string]bool{}, map[string]bool{}
			for _, g := range a.BasicAuthSignIns {
				if g.Protocol != proto || g.Successes == 0 {
					continue
				}
				n += float64(g.Successes)
				users[g.UserPrincipalName] = true
				if !g.Covered {
					uncovered[g.UserPrincipalName] = true
				}
			}
			ch <- prometheus.MustNewConstMetric(descBasicSignIns, prometheus.GaugeValue, n, name, proto)
			ch <- prometheus.MustNewConstMetric(descBasicUsers, prometheus.GaugeValue, float64(len(users)), name, proto)
			ch <- prometheus.MustNewConstMetric(descBasicUncovered, prometheus.GaugeValue, float64(len(uncovered)), name, proto)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func init() {
	mountHTTP(func(mux *http.ServeMux, rt *Runtime) {
		if rt.Tenants != nil {
			mux.HandleFunc("GET /api/v1/tenants", rt.Tenants.serveAPI)
		}
	})
}

// tenantViews feeds the status page's tenant section; nil (no section)
// when no tenant has reads.
func tenantViews(rt *Runtime) func() []web.TenantView {
	if rt.Tenants == nil {
		return nil
	}
	return func() []web.TenantView {
		var out []web.TenantView
		for _, v := range rt.Tenants.Views() {
			tv := web.TenantView{Audit: v.Audit}
			for _, c := range v.Changes {
				tv.Changes = append(tv.Changes, c.At.UTC().Format(time.RFC3339)+" "+c.Detail)
			}
			out = append(out, tv)
		}
		return out
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/inspect"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
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
	// alert, when set, receives each read's tenant conditions (the alert
	// manager's SetTenant); called outside mu.
	alert func(tenant string, evaluated []string, conds []alerts.TenantCondition)
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
	// Mailbox the change is about (mailbox_cas, mailbox_policy).
	Mailbox string `json:"mailbox,omitempty"`
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
	var removed []string
	for name := range ts.tenants {
		if next[name] == nil {
			removed = append(removed, name)
		}
	}
	ts.tenants, ts.byTarget = next, byTarget
	ts.mu.Unlock()
	if ts.alert != nil {
		// No longer read: its tenant incidents resolve rather than fire
		// forever.
		for _, name := range removed {
			ts.alert(name, alerts.TenantProblems(), nil)
		}
	}
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
	if ts.alert != nil {
		ts.mu.Lock()
		var recent []settingChange
		for _, c := range st.changes {
			if ts.now().Sub(c.At) < changeHold {
				recent = append(recent, c)
			}
		}
		ts.mu.Unlock()
		ev, conds := tenantConditions(snap, &a, recent, ts.now())
		ts.alert(st.name, ev, conds)
	}
}

// earlyReadGap is the least time between two reads of a tenant when a
// failing check asks for one sooner than its TTL.
const earlyReadGap = time.Minute

// Emit makes the tenant of a check that starts failing (or changes
// cause) due for a read now, when its latest read predates the failure:
// the alert's group_wait (30 s by default) usually covers the read, so the
// evidence and the remedy's names reflect the tenant after the change.
// Never more than once per earlyReadGap; the alert never waits for it.
func (ts *tenantService) Emit(ev scheduler.Event) {
	switch ev.Kind {
	case scheduler.EventRegressed, scheduler.EventCauseChanged, scheduler.EventPostureUnverified:
	default:
		return
	}
	ts.mu.Lock()
	st := ts.tenants[ts.byTarget[ev.Target]]
	woke := false
	if st != nil && st.latest != nil && st.latest.ReadAt.Before(ev.Since) &&
		ts.now().Sub(st.latest.ReadAt) >= earlyReadGap && st.due.After(ts.now()) {
		st.due = ts.now()
		woke = true
	}
	ts.mu.Unlock()
	if woke {
		select {
		case ts.wake <- struct{}{}:
		default:
		}
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
					out[len(out)-1].Mailbox = k
				}
			}
		}
		if pm.UserRead && cm.UserRead && strPtr(pm.AuthenticationPolicy) != strPtr(cm.AuthenticationPolicy) {
			add("mailbox_policy", "Get-User %s: AuthenticationPolicy %s -> %s", k, strPtr(pm.AuthenticationPolicy), strPtr(cm.AuthenticationPolicy))
			out[len(out)-1].Mailbox = k
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
				// The page's own time format (web.fmtTime).
				tv.Changes = append(tv.Changes, c.At.UTC().Format("2006-01-02 15:04:05Z")+" "+c.Detail)
			}
			out = append(out, tv)
		}
		return out
	}
}

// tenantRemedy is the status page's and API's remedy renderer: nil (plain
// diagnose) when no tenant has reads.
func tenantRemedy(rt *Runtime) diagnose.RemedyFunc {
	if rt.Tenants == nil {
		return nil
	}
	return rt.Tenants.Remedy
}

// Remedy renders a remedy at an edge (status page, API, alert) with the
// names the target's tenant read gave: the authentication policy in force
// for the mailboxes (when they share one), the app's enterprise object id,
// and without fix lines the tenant shows are done. Nothing is stored: the
// latest read is consulted at each rendering.
func (ts *tenantService) Remedy(c diagnose.Cause, lang string, v diagnose.Vars, target string, mailboxes []string) diagnose.Remedy {
	s := ts.Latest(target)
	if s == nil {
		return diagnose.RemedyForMailboxes(c, lang, v, mailboxes)
	}
	mbs := slices.Compact(slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(mailboxes), func(m string) bool { return m == "" }))))
	if v.Policy == "" && len(mbs) > 0 {
		// One policy for every mailbox, or none named: a fix aimed at the
		// first mailbox's policy would miss the others.
		policy := ""
		for i, mb := range mbs {
			p := policyBlocking(s, mb, c, v.Protocol)
			if p == "" || (i > 0 && !strings.EqualFold(p, policy)) {
				policy = ""
				break
			}
			policy = p
		}
		v.Policy = policy
	}
	one := ""
	if len(mbs) == 1 {
		one = mbs[0]
	}
	if v.Policy == "" {
		// Not known, or the read disagrees with the failure: a name that
		// may be stale must not be printed as the one to change.
		v.Policy = "<policy>"
	}
	v = diagnose.TenantVars(s, one, v.AppID, v)
	if v.Policy == "<policy>" {
		v.Policy = ""
	}
	r := diagnose.RemedyForMailboxes(c, lang, v, mailboxes)
	return diagnose.TailorToTenant(r, c, s, one, v.AppID)
}

// policyBlocking is the authentication policy the read says applies to
// mailbox, or "" when the read does not know it; for basic_auth_disabled
// also "" when the read says that policy allows Basic on every failing
// protocol (a read older than the change the failure shows).
func policyBlocking(s *snapshot.Snapshot, mailbox string, c diagnose.Cause, protocols string) string {
	p, _, found, known := s.EffectivePolicy(mailbox)
	if !found || p.Name == "" {
		return ""
	}
	if !known || c != diagnose.CauseBasicAuthDisabled || protocols == "" {
		return p.Name
	}
	for _, proto := range strings.Split(protocols, ",") {
		switch proto {
		case "smtp":
			if !p.AllowBasicAuthSmtp {
				return p.Name
			}
		case "imap":
			if !p.AllowBasicAuthImap {
				return p.Name
			}
		case "pop":
			if !p.AllowBasicAuthPop {
				return p.Name
			}
		}
	}
	return ""
}

// changeHold is how long a setting change stays a firing alert (the
// Prometheus rule's increase(...[30m])): kept across reads, so a read
// interval shorter than the alerts' group_wait cannot swallow it.
const changeHold = 30 * time.Minute

// basicSignInHorizon: Basic SMTP sign-ins alert once the cut-off is this
// close (the Prometheus rule's 60 days).
const basicSignInHorizon = 60 * 24 * time.Hour

// tenantConditions turns one read into the tenant's alert conditions
// (alerts/tenant.go), and says which problems the read could decide: a
// part that was not read resolves nothing.
func tenantConditions(s *snapshot.Snapshot, a *inspect.Audit, changes []settingChange, now time.Time) (evaluated []string, conds []alerts.TenantCondition) {
	credsRead := len(a.AppCredentials) > 0
	for _, app := range s.Apps {
		credsRead = credsRead && app.Read
	}
	if credsRead {
		evaluated = append(evaluated, alerts.ProblemCredentialExpiring)
		for _, c := range a.AppCredentials {
			if !c.Expiring && !c.Expired {
				continue
			}
			name := firstNonEmptyStr(c.AppName, c.AppID, c.Source)
			state := fmt.Sprintf("expires %s (%d days left)", c.EndDateTime.UTC().Format("2006-01-02"), c.DaysLeft)
			if c.Expired {
				state = "EXPIRED " + c.EndDateTime.UTC().Format("2006-01-02")
			}
			key := firstNonEmptyStr(c.DisplayName, c.KeyID)
			conds = append(conds, alerts.TenantCondition{Problem: alerts.ProblemCredentialExpiring,
				ID:     c.AppID + "/" + c.Type + "/" + c.KeyID + "/" + c.Source,
				Detail: fmt.Sprintf("%s %s %s (%s): %s", name, c.Type, key, c.Source, state), AppID: c.AppID})
		}
	}
	if s.SignInsRead {
		evaluated = append(evaluated, alerts.ProblemBasicSignIns)
		if now.Before(inspect.BasicSMTPCutoff) && inspect.BasicSMTPCutoff.Sub(now) <= basicSignInHorizon {
			type agg struct {
				n       int
				last    time.Time
				ips     []string
				covered bool
			}
			by := map[string]*agg{}
			var users []string
			for _, g := range a.BasicAuthSignIns {
				if g.Protocol != "smtp" || g.Successes == 0 {
					continue
				}
				u := strings.ToLower(g.UserPrincipalName)
				x := by[u]
				if x == nil {
					x = &agg{covered: g.Covered}
					by[u] = x
					users = append(users, u)
				}
				x.n += g.Successes
				if g.LastSeen.After(x.last) {
					x.last = g.LastSeen
				}
				if g.IPAddress != "" && !slices.Contains(x.ips, g.IPAddress) && len(x.ips) < 3 {
					x.ips = append(x.ips, g.IPAddress)
				}
			}
			slices.Sort(users)
			for _, u := range users {
				x := by[u]
				d := fmt.Sprintf("%s: %d Basic SMTP sign-in(s), last %s from %s", u, x.n, x.last.UTC().Format(time.RFC3339), strings.Join(x.ips, ", "))
				if !x.covered {
					d += " (no check covers it)"
				}
				conds = append(conds, alerts.TenantCondition{Problem: alerts.ProblemBasicSignIns, ID: u, User: u, Detail: d})
			}
		}
	}
	if s != nil {
		// Every read decides changes: those of the last changeHold fire
		// (each its own member: a flip back is a new one), older ones
		// resolve.
		evaluated = append(evaluated, alerts.ProblemSettingChanged)
		for _, c := range changes {
			h := fnv.New64a()
			h.Write([]byte(c.Detail))
			conds = append(conds, alerts.TenantCondition{Problem: alerts.ProblemSettingChanged,
				ID:     fmt.Sprintf("%s/%d/%x", c.Setting, c.At.UnixNano(), h.Sum64()),
				Detail: c.At.UTC().Format(time.RFC3339) + " " + c.Detail, Setting: c.Setting, User: c.Mailbox, Since: c.At})
		}
	}
	return evaluated, conds
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/inspect"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
)

// hookSink is a webhook receiver on 127.0.0.1 that keeps every payload.
type hookSink struct {
	mu  sync.Mutex
	got []alerts.WebhookPayload
	raw []string
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p alerts.WebhookPayload
	if err := json.Unmarshal(b, &p); err == nil {
		h.mu.Lock()
		h.got, h.raw = append(h.got, p), append(h.raw, string(b))
		h.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// find returns the first payload f accepts.
func (h *hookSink) find(f func(*alerts.WebhookPayload) bool) (alerts.WebhookPayload, string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.got {
		if f(&h.got[i]) {
			return h.got[i], h.raw[i], true
		}
	}
	return alerts.WebhookPayload{}, "", false
}

func (h *hookSink) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.raw, "\n")
}

// startTenantDaemon runs the daemon with tenant reads of the emulator, a
// data dir and a webhook sink on 127.0.0.1; targets is the config's
// targets section.
func startTenantDaemon(t *testing.T, s *sim.Sim, groupWait, targets string) (base string, hook *hookSink) {
	t.Helper()
	hook = &hookSink{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	ep := s.Endpoints()
	head, _, _ := strings.Cut(tenantDaemonConfig, "targets:\n")
	body := "alerts:\n  group_wait: " + groupWait + "\n  group_interval: 100ms\n  sinks:\n    - {name: hook, type: webhook, url: '" + srv.URL + "/hook'}\n" +
		head + "targets:\n" + targets
	body = strings.NewReplacer("READER_ID", ep.Reader.ClientID, "GRAPH_URL", ep.GraphURL+"/v1.0",
		"EXCHANGE_URL", ep.ExchangeAdminURL).Replace(body)
	cfgPath, _ := configForSim(t, s, body)
	secretFile := writeFile(t, t.TempDir(), "reader-secret", ep.Reader.ClientSecret+"\n")
	cfgBody, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(cfgBody), "READER_SECRET_FILE", secretFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, DataDir: filepath.Join(t.TempDir(), "data"), Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string, _ *Runtime) { ready <- a }})
	}()
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return base, hook
}

// The daemon renders remedies at its edges with the tenant's names: a
// Basic SMTP check refused by the user's authentication policy (2023
// words: "basic authentication is disabled", no policy named) shows the
// real policy in the status page's incident, the check's API and the
// alert, not <policy>.
func TestRunDaemonTenantRemedy(t *testing.T) {
	t.Parallel()
	s, _ := startSim2023(t)
	tenantSimExec(t, s, "Set-User -Identity scanner@contoso.com -AuthenticationPolicy 'Block Basic Auth'")
	// group_wait outlasts the first read (InvokeCommand is paced 1/s).
	base, hook := startTenantDaemon(t, s, "10s", `  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    password_file: SCANNER_PW
    checks:
      - {protocol: smtp, mechanism: basic}
`)
	const want = "Set-AuthenticationPolicy -Identity 'Block Basic Auth' -AllowBasicAuthSmtp"
	var p alerts.WebhookPayload
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(hook.all())
			t.Log(httpGetBody(t, base+"/api/v1/status"))
		}
	})
	waitFor(t, "the basic_auth_disabled alert with the tenant's policy", func() bool {
		var ok bool
		p, _, ok = hook.find(func(p *alerts.WebhookPayload) bool {
			return p.Problem == "basic_auth_disabled" && p.Status == alerts.StatusFiring && p.Remedy != nil &&
				strings.Contains(strings.Join(p.Remedy.Fix, "\n"), want)
		})
		return ok
	})
	if fix := strings.Join(p.Remedy.Fix, "\n"); strings.Contains(fix, "<policy>") || strings.Contains(p.Text, "<policy>") {
		t.Errorf("the alert still has <policy>: %s\n%s", fix, p.Text)
	}
	page := httpGetBody(t, base+"/")
	if !strings.Contains(page, "Set-AuthenticationPolicy -Identity &#39;Block Basic Auth&#39; -AllowBasicAuthSmtp") || strings.Contains(page, "-Identity &lt;policy&gt;") {
		t.Errorf("the status page's incident does not name the tenant's policy")
	}
	var st struct {
		LastFinding struct {
			Cause  string
			Remedy struct{ Fix []string }
		} `json:"last_finding"`
	}
	if err := json.Unmarshal([]byte(httpGetBody(t, base+"/api/v1/checks/scanner/smtp/basic")), &st); err != nil {
		t.Fatal(err)
	}
	if st.LastFinding.Cause != "basic_auth_disabled" || !strings.Contains(strings.Join(st.LastFinding.Remedy.Fix, "\n"), want) {
		t.Errorf("the check's API: %+v", st.LastFinding)
	}
}

// Native tenant alerts (issue 10 item 5) through the daemon's own sinks:
// a setting flipped in the tenant is a change alert before any probe
// fails, an app secret ending in 10 days an expiry alert that resolves
// when the secret is renewed, and Basic SMTP sign-ins before the cut-off
// an alert naming the user.
func TestRunDaemonTenantAlerts(t *testing.T) {
	t.Parallel()
	s, ep := startSim2023(t)
	demo := s.Endpoints().Demo
	// A device logs in with Basic SMTP (the sign-in log records it).
	scannerPW := writeFile(t, t.TempDir(), "scanner.pw", userPassword(t, s, "scanner@contoso.com"))
	if d, _ := runCheckJSON(t, "--endpoints", ep, "--user", "scanner@contoso.com", "--password-file", scannerPW,
		"--protocols", "smtp", "--mechanisms", "basic"); !d.Attempts[0].OK {
		t.Fatalf("scanner's Basic SMTP login failed: %+v", d)
	}
	base, hook := startTenantDaemon(t, s, "100ms", `  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    oauth: demo-app
    checks:
      - {protocol: imap, mechanism: xoauth2}
`)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(hook.all())
		}
	})
	firing := func(problem, detail string) func(*alerts.WebhookPayload) bool {
		return func(p *alerts.WebhookPayload) bool {
			if p.Problem != problem || p.Status != alerts.StatusFiring || p.Kind != alerts.KindTenant || p.Scope != "contoso" {
				return false
			}
			for _, m := range p.Firing {
				if strings.Contains(m.Detail, detail) {
					return true
				}
			}
			return false
		}
	}
	waitFor(t, "the first tenant read", func() bool {
		return strings.Contains(httpGetBody(t, base+"/api/v1/tenants"), `"read_at": "2`)
	})

	// The change alert, while the check still logs in.
	tenantSimExec(t, s, "Set-TransportConfig -SmtpClientAuthenticationDisabled $True")
	var p alerts.WebhookPayload
	waitFor(t, "the setting change alert", func() bool {
		var ok bool
		p, _, ok = hook.find(firing(alerts.ProblemSettingChanged, "Get-TransportConfig: SmtpClientAuthenticationDisabled False -> True"))
		return ok
	})
	if p.GroupKey != "tenant_setting_changed/contoso" || p.Remedy == nil ||
		!strings.Contains(strings.Join(p.Remedy.Inspect, "\n"), "Get-TransportConfig | Select-Object SmtpClientAuthenticationDisabled") {
		t.Errorf("change alert: key %q remedy %+v", p.GroupKey, p.Remedy)
	}
	if st := httpGetBody(t, base+"/api/v1/status"); strings.Contains(st, `"failing"`) {
		t.Errorf("a check failed: the change alert should come first:\n%s", st)
	}

	// The secret ends in 10 days: an expiry alert; renewed: resolved.
	tenantSimExec(t, s, "Set-SimApp -AppId "+demo.ClientID+" -SecretEndDateTime (Get-Date).AddDays(10)")
	waitFor(t, "the expiry alert", func() bool {
		var ok bool
		p, _, ok = hook.find(firing(alerts.ProblemCredentialExpiring, "(10 days left)"))
		return ok
	})
	if p.GroupKey != "tenant_credential_expiring/contoso" || p.Remedy == nil ||
		!strings.Contains(strings.Join(p.Remedy.Inspect, "\n"), "appId eq '"+demo.ClientID+"'") || p.Remedy.Summary == "" {
		t.Errorf("expiry alert: key %q remedy %+v", p.GroupKey, p.Remedy)
	}
	tenantSimExec(t, s, "Set-SimApp -AppId "+demo.ClientID+" -SecretEndDateTime (Get-Date).AddDays(400)")
	waitFor(t, "the expiry alert's resolve", func() bool {
		_, _, ok := hook.find(func(p *alerts.WebhookPayload) bool {
			return p.Problem == alerts.ProblemCredentialExpiring && p.Status == alerts.StatusResolved && len(p.Resolved) == 1
		})
		return ok
	})

	// Basic SMTP sign-ins: fire while the cut-off is under 60 days away.
	now := time.Now()
	due := now.Before(inspect.BasicSMTPCutoff) && inspect.BasicSMTPCutoff.Sub(now) <= 60*24*time.Hour
	_, _, got := hook.find(firing(alerts.ProblemBasicSignIns, "scanner@contoso.com: "))
	if due && !got {
		waitFor(t, "the Basic sign-ins alert", func() bool {
			_, _, ok := hook.find(firing(alerts.ProblemBasicSignIns, "scanner@contoso.com: "))
			return ok
		})
	} else if !due && got {
		t.Errorf("a Basic sign-ins alert outside the cut-off's horizon")
	}
	if testing.Verbose() {
		t.Log(hook.all())
	}
	for _, sec := range []string{s.Endpoints().Reader.ClientSecret, demo.ClientSecret} {
		if strings.Contains(hook.all(), sec) {
			t.Fatal("a secret in an alert")
		}
	}
}

// A check that starts failing after the tenant's latest read makes the
// tenant due now (its remedy then names the tenant after the change), at
// most once per earlyReadGap, and only for failures.
func TestTenantEarlyReadOnRegression(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ts := newTenantService(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts.now = func() time.Time { return now }
	st := &tenantState{name: "contoso", latest: &snapshot.Snapshot{ReadAt: now.Add(-5 * time.Minute)}, due: now.Add(10 * time.Minute)}
	ts.tenants["contoso"], ts.byTarget["scanner"] = st, "contoso"
	ev := scheduler.Event{Kind: scheduler.EventRecovered, Target: "scanner", Since: now.Add(-time.Second)}
	ts.Emit(ev)
	if !st.due.Equal(now.Add(10 * time.Minute)) {
		t.Fatal("a recovery made the tenant due")
	}
	ev.Kind = scheduler.EventRegressed
	ev.Target = "other"
	ts.Emit(ev)
	if !st.due.Equal(now.Add(10 * time.Minute)) {
		t.Fatal("another target's failure made the tenant due")
	}
	ev.Target = "scanner"
	ts.Emit(ev)
	if !st.due.Equal(now) {
		t.Fatalf("due = %v, want now", st.due)
	}
	select {
	case <-ts.wake:
	default:
		t.Fatal("the reader was not woken")
	}
	// Read 30 s ago: too soon for another early read.
	st.latest.ReadAt, st.due = now.Add(-30*time.Second), now.Add(10*time.Minute)
	ts.Emit(ev)
	if !st.due.Equal(now.Add(10 * time.Minute)) {
		t.Fatal("an early read sooner than earlyReadGap")
	}
	// A failure older than the read: the read already saw the tenant.
	st.latest.ReadAt = now.Add(-2 * time.Minute)
	ev.Since = now.Add(-3 * time.Minute)
	ts.Emit(ev)
	if !st.due.Equal(now.Add(10 * time.Minute)) {
		t.Fatal("a read after the failure was repeated")
	}
}

// A tenant whose reads leave the configuration resolves its incidents.
func TestTenantRemovedResolves(t *testing.T) {
	ts := newTenantService(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts.tenants["contoso"] = &tenantState{name: "contoso"}
	var got []string
	ts.alert = func(tenant string, evaluated []string, conds []alerts.TenantCondition) {
		if len(conds) == 0 && len(evaluated) == len(alerts.TenantProblems()) {
			got = append(got, tenant)
		}
	}
	if err := ts.Configure(&config.Config{}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "contoso" {
		t.Fatalf("resolved = %v", got)
	}
}

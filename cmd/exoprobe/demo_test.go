package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/demo"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/web"
)

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestDemoEndToEnd runs `exoprobe demo` in-process (emulator, daemon, web,
// scenario) with compressed time, and checks through the HTTP API that
// every step produces its events (kind and cause), that /metrics and the
// status page carry them, and that every sink gets one alert and one
// resolve per step.
//
// The waits are for events, not for time: the player waits on the
// daemon's event stream, has the checks a step affects probed at once
// (demo.Player.ProbeNow, so their events come together, not spread over
// their slots), and calls OnSeen when they came; the events are stored
// before they are published, so the API shows them then. A loaded machine
// makes a step slower, never a failure; StepTimeout is only the net for
// events that never come. How long each step took is logged.
func TestDemoEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end demo takes ~30 s")
	}
	const speed = 3
	const stepTimeout = time.Minute

	var addr string
	var failures []string
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	steps, seen := 0, 0
	var applied time.Time
	out := &testenv.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	onApplied := func(i int, s demo.Step, at time.Time) {
		steps++
		applied = at
	}
	onSeen := func(i int, s demo.Step, evs []scheduler.Event) {
		seen++
		t.Logf("step %d (%s): events %.1fs after the change", i+1, s.Say, time.Since(applied).Seconds())
		body := httpGet(t, "http://"+addr+"/api/v1/events?limit=50")
		var r web.EventsResponse
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			fail("step %d: events JSON: %v", i+1, err)
			return
		}
		for _, e := range s.Expect {
			found := false
			for _, ev := range r.Events {
				if !ev.Time.Before(applied) && e.Matches(ev) {
					found = true
				}
			}
			if !found {
				fail("step %d (%s): the player saw %v, the API does not show it", i+1, s.Say, e)
			}
		}
		if i == 4 { // security defaults on: regression shown everywhere
			checkServing(t, addr, fail)
		}
	}
	// A real receiver next to the built-in sink, as --webhook adds one.
	hook := &hookRecorder{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	sink, err := alerts.SinkFromURL("webhook", "webhook-1", hookSrv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	err = runDemo(ctx, demoOptions{Listen: "127.0.0.1:0", Speed: speed, Once: true, Pause: 100 * time.Millisecond,
		StepTimeout: stepTimeout, Ready: func(a string) { addr = a }, OnApplied: onApplied, OnSeen: onSeen, ProbeNow: true,
		Sinks: []alerts.Sink{sink}}, out)
	if err != nil {
		t.Errorf("runDemo: %v", err)
	}
	// Every step's alert and resolve reached the webhook exactly once, all
	// the step's checks in one notification: the group wait covers the
	// spread of the checks' phases, and the player waits for each alert
	// before the next step.
	got := hook.received()
	type pair struct{ firing, resolved, checks int }
	per := map[string]*pair{}
	for _, p := range got {
		c := per[p.Problem]
		if c == nil {
			c = &pair{}
			per[p.Problem] = c
		}
		switch p.Status {
		case alerts.StatusFiring:
			c.firing++
			c.checks = max(c.checks, len(p.Firing))
		case alerts.StatusResolved:
			c.resolved++
		}
	}
	for problem, checks := range map[string]int{"smtp_auth_disabled_tenant": 3, "unexpectedly_ok": 1, "security_defaults": 2} {
		if c := per[problem]; c == nil || c.firing != 1 || c.resolved != 1 || c.checks != checks {
			t.Errorf("webhook: %s: %+v, want exactly one alert with %d checks and one resolve", problem, c, checks)
		}
	}
	if t.Failed() {
		for _, p := range got {
			var ms []string
			for _, m := range append(append([]alerts.Member(nil), p.Firing...), p.Resolved...) {
				ms = append(ms, fmt.Sprintf("%s since %s resolved %s", m.CheckID, m.Since.Format("15:04:05.000"),
					m.ResolvedAt.Format("15:04:05.000")))
			}
			t.Logf("webhook at %s: %s %s %v", p.Time.Format("15:04:05.000"), p.Status, p.Problem, ms)
		}
	}
	if len(per) != 3 || hook.dups() != 0 {
		t.Errorf("webhook: problems %v, %d duplicates; all: %+v", per, hook.dups(), got)
	}
	for _, f := range failures {
		t.Error(f)
	}
	if n := len(demo.Scenario("u@x")); steps != n || seen != n {
		t.Errorf("%d steps played, %d seen, want %d", steps, seen, n)
	}
	story := out.String()
	for _, w := range []string{"status page: http://127.0.0.1:", "step 1/6: an admin disables SMTP AUTH",
		"step 2/6: applying the remedy's fix command", "PS> Set-CasMailbox demo@contoso.com -SmtpClientAuthenticationDisabled $False",
		"event: unexpectedly_ok demo/imap/basic", "starting state seen: 6 checks as expected",
		// Step 1 starts after the first results: its regression has a
		// previous cause.
		"event: regressed demo/smtp/basic cause=smtp_auth_disabled_tenant (was ok)",
		"alert: Resolved: Blocked by Microsoft Entra security defaults", "demo stopped"} {
		if !strings.Contains(story, w) {
			t.Errorf("story lacks %q:\n%s", w, story)
		}
	}
	if strings.Contains(story, "not seen within") || strings.Contains(story, "no alert delivered") {
		t.Errorf("a step was not seen:\n%s", story)
	}
}

// hookRecorder is a webhook receiver keeping every payload.
type hookRecorder struct {
	mu   sync.Mutex
	got  []alerts.WebhookPayload
	keys map[string]int
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p alerts.WebhookPayload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys == nil {
		h.keys = map[string]int{}
	}
	h.keys[r.Header.Get("Idempotency-Key")]++
	h.got = append(h.got, p)
}

func (h *hookRecorder) received() []alerts.WebhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alerts.WebhookPayload(nil), h.got...)
}

// dups counts deliveries repeating an idempotency key.
func (h *hookRecorder) dups() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.keys {
		n += c - 1
	}
	return n
}

// checkServing looks at /metrics, the status API, readiness and the page
// while Basic SMTP is down for security defaults.
func checkServing(t *testing.T, addr string, fail func(string, ...any)) {
	base := "http://" + addr
	metrics := httpGet(t, base+"/metrics")
	for _, w := range []string{
		`exoprobe_probe_success{mechanism="xoauth2",protocol="imap",target="demo"} 1`,
		`exoprobe_check_cause{cause="security_defaults",mechanism="basic",protocol="smtp",target="demo"} 1`,
		`exoprobe_check_expected{mechanism="basic",protocol="smtp",target="demo"} 0`,
		`exoprobe_check_expected{mechanism="basic",protocol="imap",target="demo"} 1`,
		`exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="total",target="demo"}`,
		`exoprobe_token_expiry_timestamp_seconds{mechanism="xoauth2",protocol="smtp",target="demo"}`,
		`exoprobe_lockout_guard_active{account="demo@contoso.com"} 0`,
		`exoprobe_config_last_reload_successful 1`,
		`exoprobe_scheduler_in_flight`, `exoprobe_scheduler_lag_seconds{stat="p99"}`, `exoprobe_probes_total`,
	} {
		if !strings.Contains(metrics, w) {
			fail("/metrics lacks %s", w)
		}
	}
	var st web.StatusResponse
	if err := json.Unmarshal([]byte(httpGet(t, base+"/api/v1/status")), &st); err != nil {
		fail("status JSON: %v", err)
	}
	var smtp *scheduler.CheckState
	for i := range st.Checks {
		if st.Checks[i].ID == demo.SMTPBasic {
			smtp = &st.Checks[i].CheckState
		}
	}
	if smtp == nil || smtp.Status != scheduler.StatusFailing || smtp.Cause != "security_defaults" {
		fail("status of %s = %+v", demo.SMTPBasic, smtp)
	}
	var rd web.Readiness
	if err := json.Unmarshal([]byte(httpGet(t, base+"/api/v1/readiness")), &rd); err != nil {
		fail("readiness JSON: %v", err)
	}
	// demo's Basic SMTP has a working XOAUTH2 check; the scanner has none.
	verdicts := map[scheduler.CheckID]web.Verdict{}
	for _, it := range rd.Items {
		verdicts[it.BasicCheck] = it.Verdict
	}
	if verdicts[demo.SMTPBasic] != web.VerdictReady || verdicts["scanner/smtp/basic"] != web.VerdictNoXOAUTH2 || rd.Ready {
		fail("readiness = %+v", rd)
	}
	history := httpGet(t, base+"/api/v1/checks/demo%2Fsmtp%2Fbasic/history?limit=5")
	if !strings.Contains(history, `"cause": "security_defaults"`) {
		fail("history lacks the security_defaults attempt: %s", history)
	}
	// The first steps' alerts went out by now (group wait ≪ a step): the
	// built-in sink's deliveries are listed and counted.
	for _, w := range []string{`exoprobe_alerts_sent_total{kind="regressed",sink="status-page"}`,
		`exoprobe_alerts_sent_total{kind="recovered",sink="webhook-1"}`, `exoprobe_alert_outbox_depth{sink="status-page"}`} {
		if !strings.Contains(metrics, w) {
			fail("/metrics lacks %s", w)
		}
	}
	if en := httpGet(t, base+"/"); !strings.Contains(en, "Recent alert deliveries") ||
		!strings.Contains(en, "status-page") || !strings.Contains(en, "SMTP AUTH") {
		fail("status page lacks the alert deliveries")
	}
	page := httpGet(t, base+"/?lang=ja")
	for _, w := range []string{"メールログイン監視", "security_defaults", "退行", "smtp_auth_disabled_tenant", "最近のアラート送信", "送信済み"} {
		if !strings.Contains(page, w) {
			fail("status page lacks %q", w)
		}
	}
}

// --webhook, --slack and --alertmanager take http(s) URLs; anything else
// is a usage error that never echoes the URL (it may hold a credential).
func TestDemoReceiverFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--webhook", "ftp://127.0.0.1/hook-s3cr3t"},
		{"--slack", "hooks.slack.com/services/T0/B0/s3cr3t"},
		{"--slack", "http://127.0.0.1:1/ok", "--slack", "mailto:s3cr3t@example.com"},
		{"--alertmanager", "127.0.0.1:9093-s3cr3t"},
	} {
		var out, errb strings.Builder
		if code := demoCmd(args, &out, &errb); code != exitUsage || strings.Contains(errb.String(), "s3cr3t") ||
			!strings.Contains(errb.String(), "not an http(s) URL") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

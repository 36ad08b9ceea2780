package alerting

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/amtest"
	"github.com/exoprobe/exoprobe/internal/daemontest"
)

// demoSpeed is the demo's --speed here: probes every 2 s, a 0.7 s confirm
// re-probe and a 4 s group wait (demo.DefaultTiming(3)); the player's 5 s
// pause after each step's alert is the window for the kill.
const demoSpeed = "3"

// TestDemoAlertsAcrossKill9 is issue 5's "done when" with `exoprobe demo`
// itself as the process: a webhook receiver, a Slack stand-in and a real
// Alertmanager, given with --webhook, --slack and --alertmanager. Step 1
// (SMTP AUTH disabled for the tenant) gives each receiver exactly one
// alert; the demo is killed -9 before step 2 fixes it. Restarted on the
// same --data-dir, the demo re-applies its baseline, and each receiver gets
// exactly one resolve for that alert before the restarted scenario's step
// 1 raises the next one; step 2 resolves that once. So each receiver sees
// alert, resolve, alert, resolve for the problem: none lost across the
// kill, none doubled, and the restarted play sees its steps (the audit's
// "step 1 not seen" after a restart).
func TestDemoAlertsAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs the demo twice (~40 s)")
	}
	am := amtest.Start(t)
	dir := t.TempDir()
	bin := daemontest.BuildBinary(t, dir)

	hook := &webhookRx{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	slack := &slackRx{}
	slackSrv := httptest.NewServer(slack)
	t.Cleanup(slackSrv.Close)
	amp := newAMProxy(t, am.URL)
	ampSrv := httptest.NewServer(amp)
	t.Cleanup(ampSrv.Close)
	// Secrets in the URLs, as real Slack and webhook URLs carry: the demo
	// must never echo them.
	const hookSecret, slackSecret = "hook-T0P-s3cret", "services/T000/B000/slack-s3cret"
	hookURL, slackURL := hookSrv.URL+"/"+hookSecret, slackSrv.URL+"/"+slackSecret

	dataDir := filepath.Join(dir, "demo")
	incarnation := 0
	start := func() *daemontest.Daemon {
		t.Helper()
		incarnation++
		d := daemontest.StartArgs(t, bin, []string{"demo", "--data-dir", dataDir, "--listen", "127.0.0.1:0",
			"--speed", demoSpeed, "--log-level", "info",
			"--webhook", hookURL, "--slack", slackURL, "--alertmanager", ampSrv.URL},
			filepath.Join(dir, fmt.Sprintf("demo-%d.log", incarnation)))
		t.Logf("demo #%d: pid %d, %s", incarnation, d.Cmd.Process.Pid, d.Addr)
		return d
	}
	title := diagnose.Title(diagnose.CauseSMTPAuthDisabledTenant, "en")
	// counts of the problem's notifications at each receiver, by status.
	type tally struct{ hookF, hookR, slackF, slackR, amF, amR int }
	count := func() tally {
		var c tally
		for _, p := range hook.accepted() {
			if p.Problem != problem {
				continue
			}
			switch p.Status {
			case alerts.StatusFiring:
				c.hookF++
			case alerts.StatusResolved:
				c.hookR++
			}
		}
		for _, m := range slack.messages() {
			switch {
			case strings.HasPrefix(m, "Resolved: "+title):
				c.slackR++
			case strings.HasPrefix(m, title):
				c.slackF++
			}
		}
		c.amF, c.amR = amp.postsFor(problem, alerts.StatusFiring), amp.postsFor(problem, alerts.StatusResolved)
		return c
	}
	// Generous: the first results, then the interval, the confirm
	// re-probe, the group wait, a loaded two-core machine.
	const deadline = 30 * time.Second
	sinks := []string{"webhook-1", "slack-1", "alertmanager-1"}

	// 1. The demo's step 1: one alert at every receiver, three checks
	// (demo's SMTP Basic and XOAUTH2, the scanner's SMTP Basic) in it.
	d := start()
	daemontest.WaitUntil(t, time.Now().Add(deadline), "step 1's alert at every receiver", func() (bool, string) {
		c, active := count(), activeCauses(am.Alerts(t))
		return c == tally{hookF: 1, slackF: 1, amF: 1} && active[problem] == 3,
			fmt.Sprintf("%+v, active in Alertmanager %v", c, active)
	})
	// kill -9 once the deliveries are committed (out of the outbox), so
	// that a copy sent again after the restart would be the daemon's
	// fault; the player is still in its pause, before step 2.
	waitOutbox(t, d, map[string]int{"webhook-1": 1, "slack-1": 1, "alertmanager-1": 1}, sinks)
	d.Kill9(t)
	if c := count(); c != (tally{hookF: 1, slackF: 1, amF: 1}) {
		t.Fatalf("at the kill the receivers had %+v; the kill must come between the alert and its resolve", c)
	}
	log1 := string(d.Log(t))
	if !strings.Contains(log1, "seen: SMTP logins regressed") || strings.Contains(log1, "seen: SMTP logins recovered") {
		t.Fatalf("demo #1 did not stop between step 1's alert and step 2's recovery:\n%s", log1)
	}

	// 2. Restart on the same data dir: the baseline's recovery resolves the
	// first alert, then the scenario's steps 1 and 2 alert and resolve.
	d = start()
	daemontest.WaitUntil(t, time.Now().Add(2*deadline), "resolve, alert, resolve at every receiver", func() (bool, string) {
		c, active := count(), activeCauses(am.Alerts(t))
		return c == tally{2, 2, 2, 2, 2, 2} && active[problem] == 0,
			fmt.Sprintf("%+v, active in Alertmanager %v", c, active)
	})
	d.Term(t)

	// 3. Exactly that, in that order, nothing twice.
	var seq []string
	for _, p := range hook.accepted() {
		if p.Problem == problem {
			seq = append(seq, fmt.Sprintf("%s/%d", p.Status, len(p.Firing)+len(p.Resolved)))
		}
	}
	if got := strings.Join(seq, " "); got != "firing/3 resolved/3 firing/3 resolved/3" {
		t.Errorf("webhook received %s; want firing/3 resolved/3 firing/3 resolved/3", got)
	}
	if dup := hook.duplicates(); len(dup) > 0 {
		t.Errorf("webhook: idempotency keys accepted more than once: %v", dup)
	}
	if c := count(); c != (tally{2, 2, 2, 2, 2, 2}) {
		t.Errorf("after the demo stopped the receivers have %+v; want 2 alerts and 2 resolves each", c)
	}
	var slackSeq []string
	for _, m := range slack.messages() {
		switch {
		case strings.HasPrefix(m, "Resolved: "+title):
			slackSeq = append(slackSeq, "resolved")
		case strings.HasPrefix(m, title):
			slackSeq = append(slackSeq, "firing")
		}
	}
	if got := strings.Join(slackSeq, " "); got != "firing resolved firing resolved" {
		t.Errorf("Slack received %s; want firing resolved firing resolved", got)
	}
	for _, e := range append(slack.errors(), amp.errors()...) {
		t.Error(e)
	}
	log2 := string(d.Log(t))
	for _, w := range []string{"starting state seen", "event: recovered demo/smtp/basic cause=ok (was smtp_auth_disabled_tenant)",
		"step 1/6", "seen: SMTP logins regressed", "seen: SMTP logins recovered"} {
		if !strings.Contains(log2, w) {
			t.Errorf("demo #2's output lacks %q:\n%s", w, log2)
		}
	}
	if strings.Contains(log2, "not seen within") || strings.Contains(log2, "not settled within") {
		t.Errorf("demo #2 missed a step:\n%s", log2)
	}
	for i, l := range []string{log1, log2} {
		for _, secret := range []string{hookSecret, slackSecret} {
			if strings.Contains(l, secret) {
				t.Errorf("demo #%d's output holds the receiver URL's secret %q", i+1, secret)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "config", "exoprobe.yaml")); err != nil || strings.Contains(string(b), slackSecret) {
		t.Errorf("the demo's config file (%v) holds the Slack URL", err)
	}
}

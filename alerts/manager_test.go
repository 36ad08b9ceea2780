package alerts

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// 200 mailboxes of one tenant regress together: every sink gets one
// grouped alert naming all 200, then one grouped resolve.
func TestGroupingOneAlertPerSink(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	hook := newReceiver(t, 200, "")
	slack := newReceiver(t, 200, "ok")
	mem := NewMemory("demo", "en")
	opt := fastOpts(db,
		Sink{Name: "hook", Type: "webhook", Notifier: &Webhook{Name: "hook", URL: NewSecret(hook.srv.URL)}},
		Sink{Name: "slack", Type: "slack", Notifier: &Slack{Name: "slack", URL: NewSecret(slack.srv.URL)}},
		Sink{Name: "demo", Type: "memory", Notifier: mem})
	// Wide enough for 200 Emits under -race on a loaded machine.
	opt.GroupWait = 3 * time.Second
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	// The events of one scheduler batch arrive in one transaction (the
	// commit hook's path), so the grouping does not depend on how fast
	// 200 separate Emits run on a loaded machine.
	emitBatch := func(evs []scheduler.Event) {
		t.Helper()
		if err := m.db.Update(func(tx *bolt_Tx) error {
			for _, ev := range evs {
				if err := putEvent(tx, ev); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		signal(m.wake)
	}
	var batch []scheduler.Event
	for i := range 200 {
		batch = append(batch, regressed(fmt.Sprintf("user%03d@contoso.com", i)))
	}
	emitBatch(batch)
	hook.wait(t, 1)
	slack.wait(t, 1)
	waitFor(t, "memory sink", func() bool { return len(mem.Received()) == 1 })
	b, h := hook.all()
	p := decode[WebhookPayload](t, b[0])
	if len(p.Firing) != 200 || p.Status != StatusFiring || p.Kind != scheduler.EventRegressed || p.Scope != "contoso.com" {
		t.Fatalf("webhook: %d firing, status %s kind %s scope %s", len(p.Firing), p.Status, p.Kind, p.Scope)
	}
	if !strings.Contains(p.Title, "contoso.com") || !strings.Contains(p.Title, "(200)") {
		t.Errorf("title %q", p.Title)
	}
	if h[0].Get("Idempotency-Key") != p.ID || p.ID == "" {
		t.Errorf("Idempotency-Key %q, id %q", h[0].Get("Idempotency-Key"), p.ID)
	}
	// Recover all 200: one resolve each.
	batch = batch[:0]
	for i := range 200 {
		batch = append(batch, recovered(fmt.Sprintf("user%03d@contoso.com", i)))
	}
	emitBatch(batch)
	hook.wait(t, 2)
	slack.wait(t, 2)
	waitFor(t, "memory resolve", func() bool { return len(mem.Received()) == 2 })
	b, _ = hook.all()
	r := decode[WebhookPayload](t, b[1])
	if r.Status != StatusResolved || len(r.Resolved) != 200 || len(r.Firing) != 0 || r.Kind != scheduler.EventRecovered {
		t.Fatalf("resolve: status %s, %d resolved, %d firing", r.Status, len(r.Resolved), len(r.Firing))
	}
	if r.GroupKey != p.GroupKey {
		t.Errorf("group key changed: %q then %q", p.GroupKey, r.GroupKey)
	}
	// Nothing more arrives (no duplicates): the outbox is empty and stays so.
	waitFor(t, "empty outbox", func() bool { return m.Stats().Outbox["hook"] == 0 && m.Stats().Groups == 0 })
	if b, _ := slack.all(); len(b) != 2 {
		t.Errorf("slack got %d messages, want 2", len(b))
	}
}

// A sink down for a while, then back: every alert arrives exactly once, in
// order, and the other sink was not held up.
func TestSinkDownThenBack(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	down := newReceiver(t, 503, "")
	up := newReceiver(t, 200, "")
	reg := prometheus.NewRegistry()
	opt := fastOpts(db,
		Sink{Name: "down", Type: "webhook", Notifier: &Webhook{Name: "down", URL: NewSecret(down.srv.URL)}},
		Sink{Name: "up", Type: "webhook", Notifier: &Webhook{Name: "up", URL: NewSecret(up.srv.URL)}})
	opt.Registerer = reg
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	domains := []string{"a.example", "b.example", "c.example"}
	for _, d := range domains {
		m.Emit(regressed("x@" + d))
	}
	up.wait(t, 3)
	waitFor(t, "failed retries", func() bool {
		return testutil.ToFloat64(m.mFailed.WithLabelValues("down", string(ReasonHTTP5xx))) >= 3
	})
	if got := m.Stats().Outbox["down"]; got != 3 {
		t.Fatalf("outbox of the down sink holds %d, want 3", got)
	}
	if got := testutil.ToFloat64(m.mDepth.WithLabelValues("down")); got != 3 {
		t.Errorf("exoprobe_alert_outbox_depth{sink=down} = %v, want 3", got)
	}
	for _, d := range domains {
		m.Emit(recovered("x@" + d))
	}
	up.wait(t, 6)
	down.set(200)
	down.wait(t, 6)
	waitFor(t, "drained", func() bool { return m.Stats().Outbox["down"] == 0 })
	b, h := down.all()
	if len(b) != 6 {
		t.Fatalf("down sink got %d, want 6", len(b))
	}
	seen := map[string]bool{}
	order := map[string][]Status{}
	for i := range b {
		p := decode[WebhookPayload](t, b[i])
		if seen[h[i].Get("Idempotency-Key")] {
			t.Errorf("notification %s delivered twice", p.ID)
		}
		seen[h[i].Get("Idempotency-Key")] = true
		order[p.GroupKey] = append(order[p.GroupKey], p.Status)
	}
	for k, o := range order {
		if len(o) != 2 || o[0] != StatusFiring || o[1] != StatusResolved {
			t.Errorf("group %s: order %v", k, o)
		}
	}
	if got := testutil.ToFloat64(m.mSent.WithLabelValues("down", "regressed")); got != 3 {
		t.Errorf("sent{down,regressed} = %v", got)
	}
	if got := testutil.ToFloat64(m.mSent.WithLabelValues("down", "recovered")); got != 3 {
		t.Errorf("sent{down,recovered} = %v", got)
	}
	n, err := testutil.GatherAndCount(reg, "exoprobe_alerts_sent_total", "exoprobe_alerts_failed_total", "exoprobe_alert_outbox_depth")
	if err != nil || n == 0 {
		t.Errorf("metrics not registered: %d, %v", n, err)
	}
	var failedRecent bool
	for _, d := range m.Recent(100) {
		if d.Sink == "down" && !d.OK && d.Reason == ReasonHTTP5xx {
			failedRecent = true
		}
	}
	if !failedRecent {
		t.Error("Recent shows no failed try of the down sink")
	}
}

// The process dies with a full outbox (the store is closed without
// draining): after a restart every notification is delivered once.
func TestRestartResumesOutbox(t *testing.T) {
	dir := t.TempDir()
	// The receiver is down before the kill and up after it: two servers,
	// so that a try the first process gave up on, still in the server's
	// hands when the kill happens, cannot count as accepted (a late
	// handler of one switchable server would see the new status).
	down, rcv := newReceiver(t, 503, ""), newReceiver(t, 200, "")
	mk := func(r *receiver) (*Manager, func()) {
		db := openDB(t, dir)
		m, err := New(fastOpts(db, Sink{Name: "hook", Type: "webhook", Notifier: &Webhook{Name: "hook", URL: NewSecret(r.srv.URL)}}))
		if err != nil {
			t.Fatal(err)
		}
		stop := running(t, m)
		return m, func() { stop(); db.Close() }
	}
	m, kill := mk(down)
	for _, d := range []string{"a.example", "b.example"} {
		m.Emit(regressed("x@" + d))
	}
	waitFor(t, "queued", func() bool { return m.Stats().Outbox["hook"] == 2 })
	// An event that reached the inbox but was never grouped survives too.
	pending := regressed("x@c.example")
	if err := m.db.Update(func(tx *bolt_Tx) error { return putEvent(tx, pending) }); err != nil {
		t.Fatal(err)
	}
	kill()

	m2, kill2 := mk(rcv)
	defer kill2()
	rcv.wait(t, 3)
	waitFor(t, "drained", func() bool { return m2.Stats().Outbox["hook"] == 0 })
	// The same event replayed by the scheduler after the restart is not
	// a new alert.
	m2.Emit(pending)
	m2.Emit(regressed("x@a.example"))
	time.Sleep(0) // nothing to wait for: the assertions below poll
	waitFor(t, "router idle", func() bool { return m2.Stats().Groups == 3 })
	b, h := rcv.all()
	ids := map[string]bool{}
	for i := range b {
		if ids[h[i].Get("Idempotency-Key")] {
			t.Errorf("duplicate delivery %s", h[i].Get("Idempotency-Key"))
		}
		ids[h[i].Get("Idempotency-Key")] = true
	}
	if len(b) != 3 {
		t.Errorf("got %d deliveries, want 3", len(b))
	}
}

// Secrets never reach payloads, errors, logs or JSON.
func TestSecretsNeverLeak(t *testing.T) {
	const canary = "CANARY-s3cr3t-9f8e7d"
	db := openDB(t, t.TempDir())
	defer db.Close()
	logs := &testenv.Buffer{}
	failing := newReceiver(t, 500, "echo: /hook/"+canary)
	opt := fastOpts(db,
		Sink{Name: "hook", Type: "webhook", Notifier: &Webhook{Name: "hook", URL: NewSecret(failing.srv.URL + "/hook/" + canary),
			HMACKey: NewSecret(canary)}},
		Sink{Name: "dead", Type: "slack", Notifier: &Slack{Name: "dead", URL: NewSecret("http://127.0.0.1:1/services/" + canary)}},
		Sink{Name: "pd", Type: "pagerduty", Notifier: &PagerDuty{Name: "pd", RoutingKey: NewSecret(canary), URL: NewSecret(failing.srv.URL + "/" + canary)}})
	opt.Logger = testLogger(logs)
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	m.Emit(regressed("x@contoso.com"))
	waitFor(t, "failures of every sink", func() bool {
		n := map[string]bool{}
		for _, d := range m.Recent(100) {
			if !d.OK {
				n[d.Sink] = true
			}
		}
		return len(n) == 3
	})
	for _, d := range m.Recent(100) {
		if strings.Contains(d.Error, canary) {
			t.Errorf("delivery error leaks the secret: %s", d.Error)
		}
		if d.Error == "" {
			t.Errorf("failed delivery without an error message")
		}
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("log leaks the secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "alert delivery failed") {
		t.Errorf("log does not show the failure at all:\n%s", logs.String())
	}
	s := NewSecret(canary)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %d %x %#v %+v", s, s, s, s, s, s, s),
		mustJSON(t, struct{ S Secret }{s}), mustJSON(t, &PagerDuty{Name: "pd", RoutingKey: s})} {
		if strings.Contains(out, canary) {
			t.Errorf("formatting leaks the secret: %s", out)
		}
	}
	// The PagerDuty body must carry the routing key (that is its job), and
	// nothing else may: check the webhook body does not.
	failing.set(200)
	waitFor(t, "webhook delivered", func() bool { b, _ := failing.all(); return len(b) >= 1 })
	b, h := failing.all()
	for i := range b {
		if strings.Contains(string(b[i]), canary) && !strings.Contains(string(b[i]), `"routing_key"`) {
			t.Errorf("payload leaks the secret: %s", b[i])
		}
		if sig := h[i].Get(SignatureHeader); sig != "" && !VerifySignature([]byte(canary), b[i], sig) {
			t.Errorf("bad signature %s", sig)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cause_changed moves a check between groups: the old group resolves, the
// new fires; a recovery then resolves the new one. Posture alerts are
// worded as security events.
func TestCauseChangeAndPosture(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	mem := NewMemory("demo", "en")
	m, err := New(fastOpts(db, Sink{Name: "demo", Type: "memory", Notifier: mem}))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	m.Emit(regressed("a@contoso.com"))
	waitFor(t, "first", func() bool { return len(mem.Received()) == 1 })
	m.Emit(event(scheduler.EventCauseChanged, "a@contoso.com", probe.SMTP, diagnose.CauseSecurityDefaults, diagnose.CauseSMTPAuthDisabledTenant))
	waitFor(t, "move", func() bool { return len(mem.Received()) == 3 })
	got := mem.Received()
	var fired, resolved bool
	for _, r := range got[1:] {
		switch {
		case r.Notification.Status == StatusFiring && r.Notification.Kind == scheduler.EventCauseChanged &&
			r.Notification.Problem == string(diagnose.CauseSecurityDefaults):
			fired = strings.HasPrefix(r.Content.Title, "Cause changed:")
		case r.Notification.Status == StatusResolved && r.Notification.Problem == string(diagnose.CauseSMTPAuthDisabledTenant):
			resolved = r.Notification.Resolved[0].NowCause == diagnose.CauseSecurityDefaults
		}
	}
	if !fired || !resolved {
		t.Fatalf("cause change: fired=%v resolved=%v: %+v", fired, resolved, got)
	}
	m.Emit(event(scheduler.EventUnexpectedlyOK, "b@contoso.com", probe.IMAP, diagnose.CauseOK, diagnose.CauseBasicAuthDisabled))
	waitFor(t, "posture", func() bool { return len(mem.Received()) == 4 })
	p := mem.Received()[3]
	if p.Content.Severity != "critical" || !strings.HasPrefix(p.Content.Title, "Security:") ||
		!strings.Contains(p.Content.Title, "IMAP Basic") || !strings.Contains(p.Content.Summary, "security event") {
		t.Errorf("posture content: %+v", p.Content)
	}
	if len(p.Content.Fix) == 0 || !strings.Contains(p.Content.Fix[0], "AllowBasicAuthImap:$false") {
		t.Errorf("posture fix: %v", p.Content.Fix)
	}
}

// Silences from the API mute firing alerts; routes send by label and kind.
func TestSilencesAndRoutes(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	all := NewMemory("all", "en")
	pager := NewMemory("pager", "en")
	opt := fastOpts(db, Sink{Name: "all", Notifier: all}, Sink{Name: "pager", Notifier: pager})
	team, _ := ParseMatcher(`team="mail"`)
	opt.Routes = []Route{
		{Sinks: []string{"all"}},
		{Matchers: []Matcher{team}, Kinds: []scheduler.EventKind{scheduler.EventRegressed}, Sinks: []string{"pager"}},
	}
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	srv := httptestServer(t, m.SilencesHandler())
	res, err := http.Post(srv+"/api/v1/silences", "application/json",
		strings.NewReader(`{"matchers":["domain=\"muted.example\""],"duration":"1h","comment":"maintenance"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST silence: %d %s", res.StatusCode, body)
	}
	sil := decode[Silence](t, body)
	res, err = http.Post(srv+"/api/v1/silences", "application/json", strings.NewReader(`{"matchers":["=x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad silence accepted: %d", res.StatusCode)
	}
	m.Emit(regressed("x@muted.example"))
	m.Emit(regressed("x@loud.example"))
	waitFor(t, "loud", func() bool { return len(all.Received()) == 1 && len(pager.Received()) == 1 })
	if g := all.Received()[0].Notification.Scope; g != "loud.example" {
		t.Errorf("silenced group notified: %s", g)
	}
	// Recovered: "all" and also "pager": its route takes only regressed,
	// but a sink told that a check fires is always told it stopped.
	m.Emit(recovered("x@loud.example"))
	waitFor(t, "resolve", func() bool { return len(all.Received()) == 2 && len(pager.Received()) == 2 })
	if n := pager.Received()[1].Notification; n.Status != StatusResolved || n.Scope != "loud.example" {
		t.Errorf("pager's second notification: %s %s", n.Status, n.Scope)
	}
	// Expire the silence: the muted group, still failing, is notified now.
	req, _ := http.NewRequest(http.MethodDelete, srv+"/api/v1/silences/"+sil.ID, nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	waitFor(t, "unmuted", func() bool { return len(all.Received()) == 3 && len(pager.Received()) == 3 })
	if g := all.Received()[2].Notification.Scope; g != "muted.example" {
		t.Errorf("after the silence: %s", g)
	}
	if len(pager.Received()) != 3 {
		t.Errorf("pager got %d", len(pager.Received()))
	}
}

// Repeat interval: a group still firing is notified again.
func TestRepeat(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	mem := NewMemory("demo", "ja")
	opt := fastOpts(db, Sink{Name: "demo", Notifier: mem, Lang: "ja", RepeatInterval: 200 * time.Millisecond})
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	m.Emit(regressed("x@contoso.com"))
	waitFor(t, "repeat", func() bool { return len(mem.Received()) >= 2 })
	r := mem.Received()
	if r[0].Notification.Repeat || !r[1].Notification.Repeat || r[0].Notification.ID == r[1].Notification.ID {
		t.Errorf("repeat flags/ids: %+v %+v", r[0].Notification, r[1].Notification)
	}
	if !strings.HasPrefix(r[1].Content.Title, "継続中:") || !strings.Contains(r[0].Content.Title, "組織全体で SMTP AUTH が無効") {
		t.Errorf("japanese titles: %q, %q", r[0].Content.Title, r[1].Content.Title)
	}
}

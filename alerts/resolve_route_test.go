package alerts

import (
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The example configuration pages oncall with routes whose kinds do not
// list "recovered" ({kinds: [unexpectedly_ok]}): PagerDuty must still get
// the resolve of every incident it was sent, or it stays open forever.
func TestResolveFollowsFiringWhateverKinds(t *testing.T) {
	pd := newReceiver(t, 202, `{"status":"success"}`)
	db := openDB(t, t.TempDir())
	defer db.Close()
	opt := fastOpts(db,
		Sink{Name: "oncall", Type: "pagerduty", Notifier: &PagerDuty{Name: "oncall", RoutingKey: NewSecret("R0UT1NG"), URL: NewSecret(pd.srv.URL)}},
		Sink{Name: "chat", Notifier: NewMemory("chat", "en")})
	page := mustMatcher(t, `team="mail"`)
	opt.Routes = []Route{
		{Sinks: []string{"chat"}, Kinds: []scheduler.EventKind{scheduler.EventRegressed}},
		{Kinds: []scheduler.EventKind{scheduler.EventUnexpectedlyOK}, Sinks: []string{"oncall"}},
		{Matchers: []Matcher{page}, Kinds: []scheduler.EventKind{scheduler.EventRegressed}, Sinks: []string{"oncall"}},
	}
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	m.Emit(event(scheduler.EventUnexpectedlyOK, "b@contoso.com", probe.IMAP, diagnose.CauseOK, diagnose.CauseBasicAuthDisabled))
	m.Emit(regressed("a@fabrikam.example"))
	pd.wait(t, 2)
	m.Emit(event(scheduler.EventRecovered, "b@contoso.com", probe.IMAP, diagnose.CauseBasicAuthDisabled, diagnose.CauseOK))
	m.Emit(recovered("a@fabrikam.example"))
	pd.wait(t, 4)
	waitFor(t, "drained", func() bool { return m.Stats().Outbox["oncall"] == 0 && m.Stats().Groups == 0 })
	bodies, _ := pd.all()
	actions := map[string][]string{}
	for _, b := range bodies {
		e := decode[PagerDutyEvent](t, b)
		actions[e.DedupKey] = append(actions[e.DedupKey], e.EventAction)
	}
	for _, k := range []string{DedupKey("unexpectedly_ok/contoso.com"), DedupKey("smtp_auth_disabled_tenant/fabrikam.example")} {
		if a := actions[k]; len(a) != 2 || a[0] != "trigger" || a[1] != "resolve" {
			t.Errorf("%s: %v, want trigger then resolve", k, a)
		}
	}
	// The chat sink was told only of the regression (not of the posture
	// breach), and so hears only its resolve.
	waitFor(t, "chat", func() bool { return len(m.byName["chat"].Notifier.(*Memory).Received()) == 2 })
	for _, r := range m.byName["chat"].Notifier.(*Memory).Received() {
		if r.Notification.Scope != "fabrikam.example" {
			t.Errorf("chat heard of %s", r.Notification.GroupKey)
		}
	}
}

package alerts

import (
	"maps"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// handoverOf is the event a member's scheduler records when a check changes
// owner in the state ev announced.
func handoverOf(ev scheduler.Event, h scheduler.Handover, announced time.Time) scheduler.Event {
	out := event(ev.Kind, ev.User, ev.Protocol, ev.Cause, ev.PrevCause)
	out.Handover, out.Time, out.Since = h, announced, ev.Since
	return out
}

// Issue 11: a check moves from member A to member B while it fails. A said
// so once; neither says it again (A forgets the incident without
// "resolved" or reminders, B adopts it as notified), and B's "resolved"
// carries the incident's identity as A's "firing" did: the same group key,
// PagerDuty dedup key and Alertmanager labels.
func TestHandoverAcrossMembersKeepsIncidentIdentity(t *testing.T) {
	rcv := newReceiver(t, 200, "") // one receiver, as a team's webhook would be
	sink := func() Sink {
		return Sink{Name: "wh", Type: "webhook", Notifier: &Webhook{Name: "wh", URL: NewSecret(rcv.srv.URL)}}
	}
	dbA, dbB := openDB(t, t.TempDir()), openDB(t, t.TempDir())
	defer dbA.Close()
	defer dbB.Close()
	a, err := New(fastOpts(dbA, sink()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(fastOpts(dbB, sink()))
	if err != nil {
		t.Fatal(err)
	}
	running(t, a)
	running(t, b)

	fire := regressed("scanner@contoso.com")
	a.Emit(fire)
	rcv.wait(t, 1)
	bodies, _ := rcv.all()
	first := decode[WebhookPayload](t, bodies[0])
	if first.Status != StatusFiring || first.GroupKey != GroupKey(&fire) {
		t.Fatalf("A's first notification: %s %s", first.Status, first.GroupKey)
	}

	// B takes the check over, long after the cluster announced it; A
	// learns it lost it.
	b.Emit(handoverOf(fire, scheduler.HandoverAdopted, fire.Time.Add(-time.Hour)))
	a.Emit(handoverOf(fire, scheduler.HandoverReleased, time.Now()))
	quiet := func(m *Manager, what string, notified bool) {
		waitFor(t, what, func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			g := m.groups[first.GroupKey]
			if !notified {
				return g == nil || (len(g.Members) == 0 && len(g.Gone) == 0 && !g.anyNotified())
			}
			return g != nil && len(g.Members) == 1 && len(g.Sinks["wh"].Notified) == 1 && g.FirstChange.IsZero()
		})
	}
	quiet(a, "A to forget the moved check without a word", false)
	quiet(b, "B to adopt the check as notified", true)
	// A flush of either sends nothing: nothing new fires, nothing that
	// was told recovered, no reminder is due.
	for _, m := range []*Manager{a, b} {
		if _, err := m.flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := rcv.all(); len(got) != 1 {
		t.Fatalf("the moved check was notified again: %d notifications", len(got))
	}

	// It recovers on B: "resolved", under the incident's identity.
	res := recovered("scanner@contoso.com")
	b.Emit(res)
	rcv.wait(t, 2)
	bodies, _ = rcv.all()
	second := decode[WebhookPayload](t, bodies[1])
	if second.Status != StatusResolved || second.GroupKey != first.GroupKey || len(second.Resolved) != 1 ||
		second.Resolved[0].CheckID != fire.CheckID {
		t.Fatalf("B's recovery: status %s group %s resolved %+v", second.Status, second.GroupKey, second.Resolved)
	}
	if DedupKey(second.GroupKey) != DedupKey(first.GroupKey) {
		t.Error("PagerDuty dedup keys differ between members")
	}
	am := &Alertmanager{Name: "am"}
	fa, ra := am.Alerts(&first.Notification), am.Alerts(&second.Notification)
	if len(fa) != 1 || len(ra) != 1 || !maps.Equal(fa[0].Labels, ra[0].Labels) {
		t.Errorf("Alertmanager labels differ between members: %v vs %v", fa, ra)
	}
	if !ra[0].EndsAt.Before(second.Time.Add(time.Nanosecond)) {
		t.Error("B's Alertmanager alert does not end the incident")
	}
	if second.ID == first.ID {
		t.Error("two different notifications share an idempotency key")
	}
}

// A take-over announced moments ago may have died with its previous owner
// before the group wait ended: B tells it, under the same group key.
func TestHandoverOfFreshIncidentIsNotified(t *testing.T) {
	rcv := newReceiver(t, 200, "")
	db := openDB(t, t.TempDir())
	defer db.Close()
	m, err := New(fastOpts(db, Sink{Name: "wh", Type: "webhook", Notifier: &Webhook{Name: "wh", URL: NewSecret(rcv.srv.URL)}}))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	fire := regressed("printer@contoso.com")
	m.Emit(handoverOf(fire, scheduler.HandoverAdopted, time.Now()))
	rcv.wait(t, 1)
	bodies, _ := rcv.all()
	if p := decode[WebhookPayload](t, bodies[0]); p.Status != StatusFiring || p.GroupKey != GroupKey(&fire) {
		t.Errorf("fresh take-over: %s %s", p.Status, p.GroupKey)
	}
}

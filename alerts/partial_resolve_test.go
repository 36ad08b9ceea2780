package alerts

import (
	"testing"

	"github.com/exoprobe/exoprobe/scheduler"
)

// Issue 9: one of two checks recovers. The webhook must not say
// "resolved" while the other still fires; chat titles say "Partly
// resolved"; the full recovery later is "resolved".
func TestPartialResolveStillFiring(t *testing.T) {
	rcv := newReceiver(t, 200, "")
	db := openDB(t, t.TempDir())
	defer db.Close()
	m, err := New(fastOpts(db, Sink{Name: "wh", Type: "webhook", Notifier: &Webhook{Name: "wh", URL: NewSecret(rcv.srv.URL)}}))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	a, b := regressed("a@contoso.com"), regressed("b@contoso.com")
	if err := m.db.Update(func(tx *bolt_Tx) error {
		if err := putEvent(tx, a); err != nil {
			return err
		}
		return putEvent(tx, b)
	}); err != nil {
		t.Fatal(err)
	}
	signal(m.wake)
	rcv.wait(t, 1)
	m.Emit(recovered("a@contoso.com"))
	rcv.wait(t, 2)
	bodies, _ := rcv.all()
	p := decode[WebhookPayload](t, bodies[1])
	if p.Status != StatusFiring || p.Kind != scheduler.EventRecovered || len(p.Resolved) != 1 || len(p.Firing) != 1 {
		t.Fatalf("partial resolve sent as status %s kind %s, %d resolved, %d firing", p.Status, p.Kind, len(p.Resolved), len(p.Firing))
	}
	if p.Title[:len("Partly resolved")] != "Partly resolved" || p.Severity == "info" {
		t.Errorf("partial resolve titled %q, severity %s", p.Title, p.Severity)
	}
	m.Emit(recovered("b@contoso.com"))
	rcv.wait(t, 3)
	bodies, _ = rcv.all()
	if p := decode[WebhookPayload](t, bodies[2]); p.Status != StatusResolved || len(p.Firing) != 0 {
		t.Errorf("full recovery: status %s, %d firing", p.Status, len(p.Firing))
	}
	// Alertmanager: the recovered check ends, the other is refreshed.
	n := decode[WebhookPayload](t, bodies[1]).Notification
	var ended, firing int
	for _, al := range (&Alertmanager{Name: "am"}).Alerts(&n) {
		if al.EndsAt.Before(n.Time.Add(1)) {
			ended++
		} else {
			firing++
		}
	}
	if ended != 1 || firing != 1 {
		t.Errorf("alertmanager on a partial resolve: %d ended, %d firing", ended, firing)
	}
}

package alerts

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/scheduler"
)

// A notification the sink accepted whose outbox delete fails is not sent
// again: the worker retries the delete, not the delivery.
func TestFailedDeleteIsRetriedNotResent(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	mem := NewMemory("demo", "en")
	logs := &testenv.Buffer{}
	opt := fastOpts(db, Sink{Name: "demo", Notifier: mem})
	opt.Logger = testLogger(logs)
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	m.failRemove = func() error {
		if calls.Add(1) <= 3 {
			return errors.New("disk full")
		}
		return nil
	}
	running(t, m)
	m.Emit(regressed("x@contoso.com"))
	waitFor(t, "the delete to succeed", func() bool { return calls.Load() >= 4 && m.Stats().Outbox["demo"] == 0 })
	if got := len(mem.Received()); got != 1 {
		t.Errorf("the sink received %d copies, want 1", got)
	}
	if got := testutil.ToFloat64(m.mSent.WithLabelValues("demo", string(scheduler.EventRegressed))); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "retrying the delete") {
		t.Errorf("the failed delete is not logged:\n%s", logs.String())
	}
}

// PagerDuty is told nothing of a partial resolve (the incident stays open),
// and that is neither a send nor counted as one; the last recovery is.
func TestPagerDutyPartialResolveNotCounted(t *testing.T) {
	pd := newReceiver(t, 202, `{"status":"success"}`)
	db := openDB(t, t.TempDir())
	defer db.Close()
	m, err := New(fastOpts(db, Sink{Name: "pd", Type: "pagerduty",
		Notifier: &PagerDuty{Name: "pd", RoutingKey: NewSecret("R0UT1NG"), URL: NewSecret(pd.srv.URL)}}))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	// One batch, so both checks are in the first trigger.
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
	pd.wait(t, 1)
	m.Emit(recovered("a@contoso.com"))
	waitFor(t, "the partial resolve handled", func() bool {
		for _, d := range m.Recent(10) {
			// A partial resolve: recovered, but the group still fires.
			if d.Skipped && d.Kind == scheduler.EventRecovered && d.Status == StatusFiring {
				return true
			}
		}
		return false
	})
	if got := testutil.ToFloat64(m.mSent.WithLabelValues("pd", string(scheduler.EventRecovered))); got != 0 {
		t.Errorf("a partial resolve counted as sent: %v", got)
	}
	if bodies, _ := pd.all(); len(bodies) != 1 {
		t.Errorf("PagerDuty got %d events, want only the trigger", len(bodies))
	}
	m.Emit(recovered("b@contoso.com"))
	pd.wait(t, 2)
	waitFor(t, "the resolve counted", func() bool {
		return testutil.ToFloat64(m.mSent.WithLabelValues("pd", string(scheduler.EventRecovered))) == 1
	})
	bodies, _ := pd.all()
	if e := decode[PagerDutyEvent](t, bodies[1]); e.EventAction != "resolve" {
		t.Errorf("second event %s, want resolve", e.EventAction)
	}
}

package scheduler

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

func TestProbeNow(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	tg := target("printer", "printer@contoso.com", "outlook.office365.com")
	sp := spec(tg, probe.SMTP, probe.Basic, time.Hour)
	h.s.SetChecks([]CheckSpec{sp})
	h.start()
	h.runNext(sp.ID()) // the first run; the next is an hour away
	before := h.prober.count(sp.ID())
	ok, err := h.s.ProbeNow(sp.ID())
	if err != nil || !ok {
		t.Fatalf("ProbeNow: %v %v", ok, err)
	}
	waitFor(t, func() bool { h.s.signal(); return h.prober.count(sp.ID()) > before })
	if got := h.prober.times(sp.ID()); !got[len(got)-1].Equal(h.clock.Now()) {
		t.Errorf("the asked-for probe ran at %v, now is %v", got[len(got)-1], h.clock.Now())
	}
	if _, err := h.s.ProbeNow("nope/imap/basic"); !errors.Is(err, ErrNoSuchCheck) {
		t.Errorf("unknown check: %v", err)
	}
}

// After the password was fixed, clearing the guard lets the held Basic
// check run now, and the cleared state is what the store keeps.
func TestClearGuard(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	var fixed atomic.Bool
	h.prober.answer = func(id CheckID, n int) (bool, diagnose.Cause, string) {
		if fixed.Load() {
			return true, diagnose.CauseOK, ""
		}
		return false, diagnose.CauseBadCredentials, ""
	}
	tg := target("scanner", "scanner@contoso.com", "outlook.office365.com")
	sp := spec(tg, probe.IMAP, probe.Basic, time.Minute)
	h.s.SetChecks([]CheckSpec{sp})
	h.start()
	h.advance(5*time.Minute, 10*time.Second)
	st, _ := h.s.Check(sp.ID())
	if st.LockoutGuard == nil || !st.LockoutGuard.Active {
		t.Fatalf("guard not active after 5 failing minutes: %+v", st.LockoutGuard)
	}
	n := h.prober.count(sp.ID())
	fixed.Store(true)
	cleared, err := h.s.ClearGuard("scanner@contoso.com")
	if err != nil || cleared != 3 {
		t.Fatalf("ClearGuard: %d %v, want 3 failures forgotten", cleared, err)
	}
	waitFor(t, func() bool { h.s.signal(); return h.prober.count(sp.ID()) > n })
	h.settle()
	st, _ = h.s.Check(sp.ID())
	if st.LockoutGuard != nil && st.LockoutGuard.Active {
		t.Errorf("guard still active: %+v", st.LockoutGuard)
	}
	gs, _ := h.store.LoadGuards()
	if len(gs["scanner@contoso.com"]) != 0 {
		t.Errorf("store still holds failures: %v", gs)
	}
	if again, _ := h.s.ClearGuard("scanner@contoso.com"); again != 0 {
		t.Errorf("second clear forgot %d", again)
	}
}

// New checks answer within the warm-up, spread over it, not up to one
// interval later; a check with a stored last run keeps its slot.
func TestWarmUp(t *testing.T) {
	store := NewMemStore()
	old := MakeID("old", probe.IMAP, probe.XOAUTH2)
	store.Commit([]Update{{ID: old, Record: &Record{LastRun: t0.Add(-time.Minute)}}})
	h := newHarness(t, Options{}, store)
	var specs []CheckSpec
	for i := range 50 {
		specs = append(specs, spec(target(fmt.Sprintf("t%02d", i), "", "h"), probe.IMAP, probe.XOAUTH2, time.Hour))
	}
	specs = append(specs, spec(target("old", "", "h"), probe.IMAP, probe.XOAUTH2, time.Hour))
	h.s.SetChecks(specs)
	seconds := map[int64]bool{}
	for _, st := range h.s.Snapshot() {
		if st.ID == old {
			if !st.NextRun.Equal(firstSlot(old, time.Hour, t0)) {
				t.Errorf("a check that ran before moved into the warm-up: %v", st.NextRun)
			}
			continue
		}
		if d := st.NextRun.Sub(t0); d < 0 || d >= time.Minute {
			t.Errorf("%s first runs %v after start, want within the 1m warm-up", st.ID, d)
		}
		seconds[st.NextRun.Unix()] = true
	}
	if len(seconds) < 20 {
		t.Errorf("50 new checks start in only %d distinct seconds: not spread", len(seconds))
	}
}

// A whole fleet that never ran is not probed in one burst: the warm-up
// stretches to at most warmUpRate first probes a second, capped by the
// interval.
func TestWarmUpStretchesWithFleet(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	var specs []CheckSpec
	for i := range 6000 {
		specs = append(specs, spec(target(fmt.Sprintf("t%05d", i), "", "h"), probe.IMAP, probe.XOAUTH2, time.Hour))
	}
	h.s.SetChecks(specs)
	perSecond := map[int64]int{}
	latest := time.Duration(0)
	for _, st := range h.s.Snapshot() {
		perSecond[st.NextRun.Unix()]++
		latest = max(latest, st.NextRun.Sub(t0))
	}
	if latest > 2*time.Minute+time.Second || latest < time.Minute {
		t.Errorf("6,000 new checks start within %v, want about 2 min (6,000 / %d a second)", latest, warmUpRate)
	}
	for sec, n := range perSecond {
		if n > 3*warmUpRate {
			t.Errorf("%d first probes in the second at %d", n, sec)
		}
	}
}

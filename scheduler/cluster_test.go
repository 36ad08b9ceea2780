package scheduler

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// fakeCluster is a Cluster whose ownership, other members' guard records
// and announcements the test sets.
type fakeCluster struct {
	mu        sync.Mutex
	owned     map[string]bool
	others    map[string][]time.Time
	announced map[CheckID]Event
	published map[string][]int // account -> in-flight counts published
	cleared   map[string]time.Time
}

func newFakeCluster(owned ...string) *fakeCluster {
	c := &fakeCluster{owned: map[string]bool{}, others: map[string][]time.Time{},
		announced: map[CheckID]Event{}, published: map[string][]int{}, cleared: map[string]time.Time{}}
	for _, a := range owned {
		c.owned[a] = true
	}
	return c
}

func (c *fakeCluster) Owns(acct string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned[acct]
}

func (c *fakeCluster) Ready() bool { return true }

func (c *fakeCluster) GuardClear(acct string) {
	c.mu.Lock()
	delete(c.others, acct)
	c.mu.Unlock()
}

func (c *fakeCluster) GuardCleared(acct string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cleared[acct]
}

func (c *fakeCluster) OwnerOf(acct string) (string, string) {
	if c.Owns(acct) {
		return "self", "http://127.0.0.1:9465/"
	}
	return "other", "http://127.0.0.1:9466/"
}

func (c *fakeCluster) setOwned(acct string, v bool) {
	c.mu.Lock()
	c.owned[acct] = v
	c.mu.Unlock()
}

func (c *fakeCluster) GuardOthers(acct string, since time.Time) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.others[acct] {
		if t.After(since) {
			out = append(out, t)
		}
	}
	return out
}

func (c *fakeCluster) GuardPublish(acct string, failures []time.Time, inflight int) {
	c.mu.Lock()
	c.published[acct] = append(c.published[acct], inflight)
	c.mu.Unlock()
}

func (c *fakeCluster) Announced(id CheckID) (Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, ok := c.announced[id]
	return ev, ok
}

func TestClusterRunsOnlyOwnedChecksAndTakesOverWithinAnInterval(t *testing.T) {
	fc := newFakeCluster("a@contoso.com")
	h := newHarness(t, Options{Cluster: fc}, nil)
	ta, tb := target("a", "A@contoso.com", "h"), target("b", "b@contoso.com", "h")
	specs := []CheckSpec{spec(ta, probe.IMAP, probe.XOAUTH2, time.Minute), spec(tb, probe.IMAP, probe.XOAUTH2, time.Minute),
		spec(tb, probe.SMTP, probe.XOAUTH2, time.Minute)}
	if err := h.s.SetChecks(specs); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(10*time.Minute, 10*time.Second)
	if n := h.prober.count(specs[0].ID()); n < 9 || n > 10 {
		t.Errorf("owned check ran %d times in 10 intervals", n)
	}
	for _, sp := range specs[1:] {
		if n := h.prober.count(sp.ID()); n != 0 {
			t.Errorf("%s is owned elsewhere but ran %d times", sp.ID(), n)
		}
	}
	snap := h.s.Snapshot()
	if len(snap) != 1 || snap[0].ID != specs[0].ID() {
		t.Errorf("snapshot shows checks this member does not own: %v", snap)
	}
	// Readers of any member see the whole fleet: checks run elsewhere are
	// listed with their owner and no state (this member's is stale).
	if st, ok := h.s.Check(specs[1].ID()); !ok || st.Status != StatusElsewhere || ownerOf(st) != "other" ||
		st.Remote.OwnerURL != "http://127.0.0.1:9466/" || st.LastRun != (time.Time{}) || st.Last != nil {
		t.Errorf("Check of a check owned elsewhere: %+v, %v", st, ok)
	}
	if st, _ := h.s.Check(specs[0].ID()); st.Status != StatusOK || st.Remote != nil {
		t.Errorf("Check of an owned check: status %s remote %+v", st.Status, st.Remote)
	}
	p := h.s.Query(Query{})
	if p.Total != 3 || p.Statuses[StatusElsewhere] != 2 || p.Statuses[StatusOK] != 1 || len(p.Checks) != 3 {
		t.Errorf("Query over the fleet: total %d statuses %v checks %d", p.Total, p.Statuses, len(p.Checks))
	}
	for _, c := range p.Checks {
		if (c.Status == StatusElsewhere) != (ownerOf(c) == "other") {
			t.Errorf("Query: %s status %s owner %q", c.ID, c.Status, ownerOf(c))
		}
	}
	// Filters on state see no stale state of checks run elsewhere.
	if p := h.s.Query(Query{Status: []Status{StatusOK}}); p.Matched != 1 {
		t.Errorf("Query status=ok matched %d, want 1 (the owned check)", p.Matched)
	}
	if p := h.s.Query(Query{Target: "b", ProblemsFirst: true}); p.Matched != 2 || ownerOf(p.Checks[0]) != "other" {
		t.Errorf("Query target=b: %+v", p)
	}
	n := 0
	h.s.Range(func(CheckState) bool { n++; return true })
	if n != 1 || h.s.Len() != 1 {
		t.Errorf("Range visits %d checks, Len %d; want 1 (metrics are the owner's)", n, h.s.Len())
	}
	if _, err := h.s.ProbeNow(specs[1].ID()); !errors.Is(err, ErrNotOwned) {
		t.Errorf("ProbeNow of a check owned elsewhere: %v", err)
	}
	if h.s.Stats().NotOwned == 0 {
		t.Error("skips of checks owned elsewhere not counted")
	}

	// The owner of b dies: b's checks come here and run within one interval.
	fc.setOwned("b@contoso.com", true)
	moved := h.clock.Now()
	h.advance(time.Minute, 5*time.Second)
	for _, sp := range specs[1:] {
		ts := h.prober.times(sp.ID())
		if len(ts) != 1 || ts[0].Sub(moved) > time.Minute {
			t.Errorf("%s after the move: runs at %v (moved at %v)", sp.ID(), ts, moved)
		}
	}
	if len(h.s.Snapshot()) != 3 {
		t.Error("taken-over checks missing from the snapshot")
	}
	if st, _ := h.s.Check(specs[1].ID()); st.Status == StatusElsewhere || st.Remote != nil || st.LastRun.IsZero() {
		t.Errorf("a taken-over check still shows as elsewhere: %+v", st)
	}
}

// The guard counts what the other members report: two failures elsewhere
// leave room for one here.
func TestClusterGuardCountsOtherMembersFailures(t *testing.T) {
	fc := newFakeCluster("scanner@contoso.com")
	h := newHarness(t, Options{Cluster: fc, NoConfirm: true}, nil)
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) {
		return false, diagnose.CauseBadCredentials, ""
	}
	fc.others["scanner@contoso.com"] = []time.Time{t0.Add(-10 * time.Minute), t0.Add(-5 * time.Minute)}
	tg := target("scanner", "scanner@contoso.com", "h")
	sp := spec(tg, probe.SMTP, probe.Basic, time.Minute)
	if err := h.s.SetChecks([]CheckSpec{sp}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(40*time.Minute, 10*time.Second)
	if n := h.prober.count(sp.ID()); n != 1 {
		t.Fatalf("%d failed Basic logins here on top of 2 elsewhere within the hour (limit 3)", n)
	}
	// The window moves past the other members' failures: one more each.
	h.advance(20*time.Minute, 10*time.Second)
	if n := h.prober.count(sp.ID()); n != 3 {
		t.Errorf("after the others' failures left the window: %d attempts, want 3", n)
	}
	all := append(h.prober.times(sp.ID()), fc.others["scanner@contoso.com"]...)
	if m := maxInAnyHour(all); m > 3 {
		t.Errorf("%d failed logins within an hour across members", m)
	}
	fc.mu.Lock()
	pub := fc.published["scanner@contoso.com"]
	fc.mu.Unlock()
	if len(pub) < 2 || pub[0] != 1 || pub[1] != 0 {
		t.Errorf("in-flight attempts not published around the attempt: %v", pub)
	}
	st, ok := h.s.Check(sp.ID())
	if !ok || st.LockoutGuard == nil || len(st.LockoutGuard.Failures) != 3 {
		t.Errorf("guard state does not show the cluster's failures: %+v", st.LockoutGuard)
	}
}

// A check taken over continues the cluster's announced state: the same
// incident is not announced again, and its recovery is.
func TestClusterTakeOverDoesNotReannounce(t *testing.T) {
	fc := newFakeCluster()
	h := newHarness(t, Options{Cluster: fc, NoConfirm: true}, nil)
	fail := true
	var mu sync.Mutex
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return false, diagnose.CauseBasicAuthDisabled, ""
		}
		return true, diagnose.CauseOK, ""
	}
	tg := target("scanner", "scanner@contoso.com", "h")
	sp := spec(tg, probe.IMAP, probe.Basic, time.Minute)
	fc.announced[sp.ID()] = Event{Kind: EventRegressed, CheckID: sp.ID(), Expect: ExpectOK, Time: t0.Add(-time.Hour),
		Since: t0.Add(-time.Hour), Cause: diagnose.CauseBasicAuthDisabled, PrevCause: diagnose.CauseOK}
	if err := h.s.SetChecks([]CheckSpec{sp}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(2*time.Minute, 10*time.Second)
	if h.prober.count(sp.ID()) != 0 {
		t.Fatal("ran while another member owns it")
	}
	// Meanwhile this member shows it with the state the cluster announced.
	if st, _ := h.s.Check(sp.ID()); st.Status != StatusElsewhere || st.Remote == nil || st.Remote.AnnouncedStatus != StatusFailing ||
		st.Remote.AnnouncedCause != diagnose.CauseBasicAuthDisabled || !st.Remote.AnnouncedSince.Equal(t0.Add(-time.Hour)) {
		t.Errorf("a check run elsewhere: status %s, remote %+v", st.Status, st.Remote)
	}
	fc.setOwned("scanner@contoso.com", true)
	h.advance(3*time.Minute, 10*time.Second)
	if h.prober.count(sp.ID()) == 0 {
		t.Fatal("never ran after the take-over")
	}
	// One event only records the change of owner, dated when the cluster
	// announced the state, for the alerts to follow the check.
	evs := h.sink.list()
	if len(evs) != 1 || evs[0].Handover != HandoverAdopted || evs[0].Kind != EventRegressed ||
		evs[0].Cause != diagnose.CauseBasicAuthDisabled || !evs[0].Time.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("the announced incident was announced again, or its take-over not recorded: %+v", evs)
	}
	st, _ := h.s.Check(sp.ID())
	if st.Status != StatusFailing || !st.Since.Equal(t0.Add(-time.Hour)) {
		t.Errorf("state not taken over: %s since %v", st.Status, st.Since)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	h.advance(2*time.Minute, 10*time.Second)
	evs = h.sink.list()
	if len(evs) != 2 || evs[1].Kind != EventRecovered || evs[1].Handover != "" {
		t.Fatalf("recovery after the take-over: %+v", evs)
	}
}

// A failing check given to another member is released once: its alerts
// forget the incident there, and nothing else is recorded while it runs
// elsewhere.
func TestClusterMoveAwayReleasesIncident(t *testing.T) {
	fc := newFakeCluster("scanner@contoso.com")
	h := newHarness(t, Options{Cluster: fc, NoConfirm: true}, nil)
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) {
		return false, diagnose.CauseBasicAuthDisabled, ""
	}
	sp := spec(target("scanner", "scanner@contoso.com", "h"), probe.IMAP, probe.XOAUTH2, time.Minute)
	if err := h.s.SetChecks([]CheckSpec{sp}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(3*time.Minute, 10*time.Second)
	evs := h.sink.list()
	if len(evs) != 1 || evs[0].Kind != EventRegressed || evs[0].Handover != "" {
		t.Fatalf("before the move: %+v", evs)
	}
	fc.setOwned("scanner@contoso.com", false)
	h.advance(5*time.Minute, 10*time.Second)
	evs = h.sink.list()
	if len(evs) != 2 || evs[1].Handover != HandoverReleased || evs[1].Kind != EventRegressed ||
		evs[1].Cause != diagnose.CauseBasicAuthDisabled {
		t.Fatalf("after the move: %+v", evs)
	}
	// Back here: adopted again, not announced again.
	fc.setOwned("scanner@contoso.com", true)
	h.advance(2*time.Minute, 10*time.Second)
	evs = h.sink.list()
	if len(evs) != 3 || evs[2].Handover != HandoverAdopted {
		t.Fatalf("after the move back: %+v", evs)
	}
}

// Clearing the guard on any member forgets the failures every member
// counted: the held check runs at once; a clear made elsewhere also
// releases this member's own count.
func TestClusterClearGuard(t *testing.T) {
	fc := newFakeCluster("scanner@contoso.com")
	h := newHarness(t, Options{Cluster: fc, NoConfirm: true}, nil)
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) { return true, diagnose.CauseOK, "" }
	fc.others["scanner@contoso.com"] = []time.Time{t0.Add(-3 * time.Minute), t0.Add(-2 * time.Minute), t0.Add(-time.Minute)}
	sp := spec(target("scanner", "scanner@contoso.com", "h"), probe.IMAP, probe.Basic, time.Minute)
	if err := h.s.SetChecks([]CheckSpec{sp}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(3*time.Minute, 10*time.Second)
	if n := h.prober.count(sp.ID()); n != 0 {
		t.Fatalf("ran %d times while the other members' 3 failures hold the guard", n)
	}
	n, err := h.s.ClearGuard("scanner@contoso.com")
	if err != nil || n != 3 {
		t.Fatalf("ClearGuard: %d, %v; want the other members' 3", n, err)
	}
	h.advance(20*time.Second, 10*time.Second)
	if h.prober.count(sp.ID()) == 0 {
		t.Error("the check still waits after the cluster-wide clear")
	}
	// Own failures, then a clear made on another member.
	own := h.clock.Now()
	h.s.mu.Lock()
	g := h.s.guard("scanner@contoso.com")
	g.setFailures([]time.Time{own.Add(-time.Second), own.Add(-time.Second / 2), own})
	h.s.mu.Unlock()
	if st, _ := h.s.Check(sp.ID()); st.LockoutGuard == nil || !st.LockoutGuard.Active {
		t.Fatalf("own failures do not hold the guard: %+v", st.LockoutGuard)
	}
	fc.mu.Lock()
	fc.cleared["scanner@contoso.com"] = own
	fc.mu.Unlock()
	if st, _ := h.s.Check(sp.ID()); st.LockoutGuard != nil {
		t.Errorf("a clear made on another member leaves this member's count: %+v", st.LockoutGuard)
	}
}

func ownerOf(st CheckState) string {
	if st.Remote == nil {
		return ""
	}
	return st.Remote.Owner
}

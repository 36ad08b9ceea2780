package scheduler

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// countingStore counts what each commit writes.
type countingStore struct {
	*MemStore
	mu                       sync.Mutex
	records, details, hist   int
	commits, biggest, events int
}

func (c *countingStore) Commit(batch []Update) error {
	c.mu.Lock()
	c.commits++
	c.biggest = max(c.biggest, len(batch))
	for _, u := range batch {
		if u.Record != nil {
			c.records++
		}
		if u.Detail != nil {
			c.details++
		}
		if u.History != nil {
			c.hist++
		}
		c.events += len(u.Events)
	}
	c.mu.Unlock()
	return c.MemStore.Commit(batch)
}

func (c *countingStore) counts() (records, details, hist, commits, biggest int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records, c.details, c.hist, c.commits, c.biggest
}

func newCountingHarness(t *testing.T, opt Options) (*harness, *countingStore) {
	cs := &countingStore{MemStore: NewMemStore()}
	h := newHarness(t, opt, nil)
	h.s.opt.Store = cs
	h.store = cs.MemStore
	return h, cs
}

// TestQueryFiltersPagesAndCounts: Query filters by status, cause, target,
// label and text, pages in id order (or problems first) and counts the
// fleet and the matches.
func TestQueryFiltersPagesAndCounts(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	h.prober.answer = func(id CheckID, n int) (bool, diagnose.Cause, string) {
		_, p, m, _ := id.Split()
		if p == probe.SMTP && m == probe.Basic {
			return false, diagnose.CauseSMTPAuthDisabledTenant, ""
		}
		return true, diagnose.CauseOK, ""
	}
	var specs []CheckSpec
	for i := range 10 {
		tg := target(fmt.Sprintf("t%02d", i), fmt.Sprintf("u%d@c.example", i), "mail.example")
		team := "a"
		if i%2 == 1 {
			team = "b"
		}
		for _, p := range probe.Protocols {
			for _, m := range probe.Mechanisms {
				sp := spec(tg, p, m, 5*time.Minute)
				sp.Labels = map[string]string{"team": team}
				specs = append(specs, sp)
			}
		}
	}
	if err := h.s.SetChecks(specs); err != nil {
		t.Fatal(err)
	}
	h.start()
	defer h.stop()
	h.advance(5*time.Minute, time.Second)

	all := h.s.Query(Query{})
	if all.Total != 60 || all.Matched != 60 || len(all.Checks) != 60 {
		t.Fatalf("total %d matched %d page %d, want 60 each", all.Total, all.Matched, len(all.Checks))
	}
	if all.Statuses[StatusFailing] != 10 || all.Statuses[StatusOK] != 50 {
		t.Fatalf("statuses %v, want 10 failing and 50 ok", all.Statuses)
	}
	if !slices.IsSortedFunc(all.Checks, func(a, b CheckState) int { return cmpID(a.ID, b.ID) }) {
		t.Error("checks not in id order")
	}
	if all.Checks[0].Last == nil || all.Checks[0].Last.Start.IsZero() {
		t.Errorf("no summary of the latest attempt: %+v", all.Checks[0])
	}

	failing := h.s.Query(Query{Status: []Status{StatusFailing}, Limit: 3, Offset: 2})
	if failing.Matched != 10 || len(failing.Checks) != 3 || failing.Total != 60 {
		t.Fatalf("failing page: matched %d, %d checks, total %d", failing.Matched, len(failing.Checks), failing.Total)
	}
	if failing.Checks[0].ID != MakeID("t02", probe.SMTP, probe.Basic) {
		t.Errorf("offset 2 starts at %s", failing.Checks[0].ID)
	}
	if failing.MatchedCauses[diagnose.CauseSMTPAuthDisabledTenant] != 10 {
		t.Errorf("matched causes %v", failing.MatchedCauses)
	}
	if w := failing.Checks[0].Last.Words; w == "" {
		t.Error("a failing check's summary has no server words")
	}

	byCause := h.s.Query(Query{Cause: []diagnose.Cause{diagnose.CauseSMTPAuthDisabledTenant}, Labels: map[string]string{"team": "b"}})
	if byCause.Matched != 5 {
		t.Errorf("cause + label matched %d, want 5", byCause.Matched)
	}
	if q := h.s.Query(Query{Target: "t03"}); q.Matched != 6 {
		t.Errorf("target matched %d, want 6", q.Matched)
	}
	if q := h.s.Query(Query{Search: "T07/IMAP"}); q.Matched != 2 {
		t.Errorf("search matched %d, want 2", q.Matched)
	}
	if q := h.s.Query(Query{Protocol: probe.POP, Mechanism: probe.XOAUTH2}); q.Matched != 10 {
		t.Errorf("protocol+mechanism matched %d, want 10", q.Matched)
	}
	pf := h.s.Query(Query{ProblemsFirst: true, Limit: 12})
	for i, st := range pf.Checks {
		if want := i < 10; (st.Status == StatusFailing) != want {
			t.Fatalf("problems first: check %d is %s", i, st.Status)
		}
	}
	if pf.Checks[0].ID != MakeID("t00", probe.SMTP, probe.Basic) || pf.Checks[10].ID != MakeID("t00", probe.IMAP, probe.Basic) {
		t.Errorf("problems first, then id order: %s, %s", pf.Checks[0].ID, pf.Checks[10].ID)
	}
	if past := h.s.Query(Query{Offset: 100}); len(past.Checks) != 0 || past.Matched != 60 {
		t.Errorf("offset past the end: %d checks, matched %d", len(past.Checks), past.Matched)
	}
}

func cmpID(a, b CheckID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestReadsTakeNoLock: Query, Range, Snapshot and Check answer while the
// scheduler's lock is held, so serving a scrape cannot delay a probe.
func TestReadsTakeNoLock(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	tg := target("t", "u@c.example", "mail.example")
	id := MakeID("t", probe.IMAP, probe.Basic)
	h.s.SetChecks([]CheckSpec{spec(tg, probe.IMAP, probe.Basic, time.Minute)})
	h.s.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.s.Query(Query{Limit: 1})
		h.s.Range(func(CheckState) bool { return true })
		h.s.Snapshot()
		h.s.Check(id)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a read waited for the scheduler's lock")
	}
	h.s.mu.Unlock()
}

// TestRecordWrittenOnlyOnChange: an attempt that changes nothing writes
// only its history entry; a change of outcome writes the record and the
// detail (the full attempt), which Check loads.
func TestRecordWrittenOnlyOnChange(t *testing.T) {
	h, cs := newCountingHarness(t, Options{NoConfirm: true})
	var mu sync.Mutex
	failing := false
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return false, diagnose.CauseBasicAuthDisabled, ""
		}
		return true, diagnose.CauseOK, ""
	}
	tg := target("t", "u@c.example", "mail.example")
	id := MakeID("t", probe.IMAP, probe.Basic)
	h.s.SetChecks([]CheckSpec{spec(tg, probe.IMAP, probe.Basic, time.Minute)})
	h.start()
	defer h.stop()
	for range 10 {
		h.runNext(id)
	}
	rec, det, hist, _, _ := cs.counts()
	if hist != 10 || rec != 1 || det != 1 {
		t.Fatalf("10 unchanged attempts wrote %d records, %d details, %d history entries; want 1, 1, 10", rec, det, hist)
	}
	mu.Lock()
	failing = true
	mu.Unlock()
	at := h.runNext(id)
	h.runNext(id) // same failure, new trace id: not a change
	rec, det, hist, _, _ = cs.counts()
	if hist != 12 || rec != 2 || det != 2 {
		t.Fatalf("after a change: %d records, %d details, %d history entries; want 2, 2, 12", rec, det, hist)
	}
	st, _ := h.s.Check(id)
	if st.LastAttempt == nil || st.LastAttempt.OK || !st.LastAttempt.Start.Equal(at) {
		t.Fatalf("Check's last attempt %+v, want the failed one of %v", st.LastAttempt, at)
	}
	if st.LastFinding == nil || st.LastFinding.Cause != diagnose.CauseBasicAuthDisabled || st.LastFinding.Remedy.Summary != "" {
		t.Errorf("stored finding %+v: want the cause without a rendered remedy", st.LastFinding)
	}
	// An hour without change refreshes the record once.
	h.advance(time.Hour, time.Minute)
	rec, _, _, _, _ = cs.counts()
	if rec != 3 {
		t.Errorf("an hour later %d records written, want 3", rec)
	}
	for _, e := range h.s.list() {
		if a := e.rec.LastAttempt; a == nil || a.Transcript != nil || a.Timings != nil {
			t.Errorf("memory keeps %+v, want the compact attempt", a)
		}
	}
}

// TestGroupCommit: with a commit delay, the updates of checks finishing
// together share a commit; an update carrying an event is still committed
// before the event reaches a sink.
func TestGroupCommit(t *testing.T) {
	h, cs := newCountingHarness(t, Options{NoConfirm: true, CommitDelay: 500 * time.Millisecond, MaxInFlight: 100})
	h.prober.gate = make(chan struct{})
	var specs []CheckSpec
	for i := range 40 {
		specs = append(specs, spec(target(fmt.Sprintf("t%02d", i), "", "mail.example"), probe.IMAP, probe.XOAUTH2, time.Minute))
	}
	h.s.SetChecks(specs)
	h.start()
	defer h.stop()
	// Run every check once and release them together.
	h.clock.Advance(time.Minute)
	waitFor(t, func() bool { h.s.signal(); return h.s.Stats().InFlight == 8 })
	close(h.prober.gate)
	h.settle()
	_, _, hist, commits, biggest := cs.counts()
	if hist < 40 || commits >= hist || biggest < 2 {
		t.Fatalf("%d attempts in %d commits (largest %d): want them grouped", hist, commits, biggest)
	}
}

// TestClassifyAtClassifiesOnlyTheNewAttempt: with ClassifyAt, one
// completion diagnoses its own attempt, with its siblings' latest attempts
// as the comparison set.
func TestClassifyAtClassifiesOnlyTheNewAttempt(t *testing.T) {
	var mu sync.Mutex
	var calls []int
	h := newHarness(t, Options{NoConfirm: true, ClassifyAt: func(as []probe.Attempt, i int) diagnose.Finding {
		mu.Lock()
		calls = append(calls, len(as))
		mu.Unlock()
		return diagnose.Finding{Cause: diagnose.CauseOK, Confidence: diagnose.Definitive,
			Protocol: string(as[i].Protocol), Mechanism: string(as[i].Mechanism)}
	}}, nil)
	tg := target("t", "u@c.example", "mail.example")
	var specs []CheckSpec
	for _, p := range probe.Protocols {
		specs = append(specs, spec(tg, p, probe.Basic, time.Minute))
	}
	h.s.SetChecks(specs)
	h.start()
	defer h.stop()
	h.advance(2*time.Minute, time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 6 {
		t.Fatalf("%d classifications for 6 attempts", len(calls))
	}
	if slices.Max(calls) != 3 {
		t.Errorf("comparison sets %v: the second round should see both siblings", calls)
	}
}

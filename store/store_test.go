package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

var t0 = time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)

func open(t *testing.T, dir string, opt Options) *DB {
	t.Helper()
	opt.NoSync = true
	db, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestRecordsAndGuardsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, Options{})
	rec := scheduler.Record{
		Machine: scheduler.MachineState{Expect: scheduler.ExpectOK, Status: scheduler.StatusFailing,
			Cause: diagnose.CauseSMTPAuthDisabledTenant, PrevCause: diagnose.CauseOK, Since: t0,
			Candidate: &scheduler.Candidate{Cause: diagnose.CauseAccountDisabled, Since: t0.Add(time.Minute)}},
		LastAttempt: &probe.Attempt{Target: "t", Protocol: probe.SMTP, Reply: "535 5.7.139 Authentication unsuccessful"},
		LastRun:     t0,
	}
	err := db.Commit([]scheduler.Update{{ID: "t/smtp/basic", Record: &rec,
		Guard: &scheduler.GuardRecord{Account: "u@c.example", Failures: []time.Time{t0, t0.Add(time.Minute)}}}})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, dir, Options{})
	defer db.Close()
	recs, err := db.LoadRecords()
	if err != nil {
		t.Fatal(err)
	}
	got := recs["t/smtp/basic"]
	if got.Machine.Cause != rec.Machine.Cause || got.Machine.Candidate == nil ||
		got.Machine.Candidate.Cause != diagnose.CauseAccountDisabled || got.LastAttempt.Reply != rec.LastAttempt.Reply {
		t.Fatalf("record after reopen: %+v", got)
	}
	gs, _ := db.LoadGuards()
	if len(gs["u@c.example"]) != 2 {
		t.Fatalf("guards %+v", gs)
	}
}

func TestHistoryBoundedByCountAndAge(t *testing.T) {
	db := open(t, t.TempDir(), Options{MaxHistory: 50, MaxHistoryAge: time.Hour})
	defer db.Close()
	id := scheduler.CheckID("t/imap/basic")
	add := func(at time.Time) {
		t.Helper()
		if err := db.Commit([]scheduler.Update{{ID: id, History: &scheduler.HistoryEntry{Time: at, OK: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 120 { // one a second: the count bound applies
		add(t0.Add(time.Duration(i) * time.Second))
	}
	h, _ := db.History(id, 0)
	if len(h) != 50 || !h[0].Time.Equal(t0.Add(119*time.Second)) || !h[49].Time.Equal(t0.Add(70*time.Second)) {
		t.Fatalf("count bound: %d entries, newest %v, oldest %v", len(h), h[0].Time, h[len(h)-1].Time)
	}
	add(t0.Add(2 * time.Hour)) // everything else is older than an hour
	h, _ = db.History(id, 0)
	if len(h) != 1 {
		t.Fatalf("age bound: %d entries", len(h))
	}
	add(t0.Add(2*time.Hour + time.Second))
	if h, _ = db.History(id, 1); len(h) != 1 || !h[0].Time.Equal(t0.Add(2*time.Hour+time.Second)) {
		t.Fatalf("limit/newest first: %+v", h)
	}
	if st := db.Stats(); st.HistoryRecords != 122 || st.HistoryBytesPerRecord < 10 || st.FileBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEventsBoundedNewestFirst(t *testing.T) {
	db := open(t, t.TempDir(), Options{MaxEvents: 5})
	defer db.Close()
	for i := range 12 {
		ev := scheduler.Event{ID: scheduler.NewULID(t0.Add(time.Duration(i) * time.Second)), Kind: scheduler.EventRegressed,
			Cause: diagnose.Cause(fmt.Sprint(i))}
		if err := db.Commit([]scheduler.Update{{ID: "x/imap/basic", Events: []scheduler.Event{ev}}}); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := db.Events(0)
	if len(evs) != 5 || evs[0].Cause != "11" || evs[4].Cause != "7" {
		t.Fatalf("events %+v", evs)
	}
}

func TestSecondOpenerTimesOut(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, Options{})
	defer db.Close()
	start := time.Now()
	_, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("second open blocked")
	}
}

func TestCommitHookIsAtomic(t *testing.T) {
	db := open(t, t.TempDir(), Options{})
	defer db.Close()
	if err := db.EnsureBucket("alerts_outbox"); err != nil {
		t.Fatal(err)
	}
	fail := true
	db.OnCommit(func(tx *bolt.Tx, batch []scheduler.Update) error {
		for _, u := range batch {
			for _, ev := range u.Events {
				if err := tx.Bucket([]byte("alerts_outbox")).Put([]byte(ev.ID), []byte(ev.Kind)); err != nil {
					return err
				}
			}
		}
		if fail {
			return errors.New("outbox full")
		}
		return nil
	})
	ev := scheduler.Event{ID: scheduler.NewULID(t0), Kind: scheduler.EventRegressed}
	u := []scheduler.Update{{ID: "a/pop/basic", Events: []scheduler.Event{ev}}}
	if err := db.Commit(u); err == nil {
		t.Fatal("hook error not returned")
	}
	if evs, _ := db.Events(0); len(evs) != 0 {
		t.Fatal("event stored although the hook failed")
	}
	fail = false
	if err := db.Commit(u); err != nil {
		t.Fatal(err)
	}
	var n int
	db.View(func(tx *bolt.Tx) error { n = tx.Bucket([]byte("alerts_outbox")).Stats().KeyN; return nil })
	if evs, _ := db.Events(0); len(evs) != 1 || n != 1 {
		t.Fatalf("events %d outbox %d", len(evs), n)
	}
}

// The scheduler over a real store, stopped and reopened mid-regression:
// no repeated regressed, nothing missed.
func TestSchedulerRestartOnBolt(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	cause := diagnose.CauseOK
	set := func(c diagnose.Cause) { mu.Lock(); cause = c; mu.Unlock() }
	clock := scheduler.NewFakeClock(t0)
	var calls int
	prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		mu.Lock()
		defer mu.Unlock()
		calls++
		a := probe.Attempt{Target: c.Target.Name, Protocol: c.Protocol, Mechanism: c.Mechanism, OK: cause == diagnose.CauseOK,
			Reply: fmt.Sprintf("535 5.7.139 trace %d", calls)}
		return a
	})
	classify := func(as []probe.Attempt) []diagnose.Finding {
		mu.Lock()
		defer mu.Unlock()
		var out []diagnose.Finding
		for _, a := range as {
			if !a.OK {
				out = append(out, diagnose.Finding{Cause: cause, Protocol: string(a.Protocol), Mechanism: string(a.Mechanism)})
			}
		}
		return out
	}
	tg := &probe.Target{Name: "t", User: "u@c.example", SMTPAddr: "127.0.0.1:1"}
	specs := []scheduler.CheckSpec{{Target: tg, Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Interval: time.Minute, Timeout: time.Minute}}
	id := specs[0].ID()

	var events []scheduler.Event
	var evMu sync.Mutex
	sink := sinkFunc(func(ev scheduler.Event) { evMu.Lock(); events = append(events, ev); evMu.Unlock() })

	run := func(steps int, before func(i int)) {
		db := open(t, dir, Options{})
		s, err := scheduler.New(scheduler.Options{Prober: prober, Classifier: classify, Store: db, Clock: clock,
			Sinks: []scheduler.EventSink{sink}, NoConfirm: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		s.SetChecks(specs)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		for i := range steps {
			before(i)
			h0, _ := db.History(id, 0)
			st, _ := s.Check(id)
			clock.Set(st.NextRun)
			deadline := time.Now().Add(10 * time.Second)
			for {
				h, _ := db.History(id, 0)
				if len(h) > len(h0) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no attempt stored")
				}
				time.Sleep(time.Millisecond)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	run(3, func(i int) {
		if i == 1 {
			set(diagnose.CauseSMTPAuthDisabledTenant)
		}
	})
	run(3, func(i int) {
		if i == 2 {
			set(diagnose.CauseOK)
		}
	})
	evMu.Lock()
	defer evMu.Unlock()
	var kinds []scheduler.EventKind
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if fmt.Sprint(kinds) != "[regressed recovered]" {
		t.Fatalf("events across a restart: %v", kinds)
	}
	db := open(t, dir, Options{})
	defer db.Close()
	stored, _ := db.Events(0)
	if len(stored) != 2 || stored[0].Kind != scheduler.EventRecovered {
		t.Fatalf("stored %+v", stored)
	}
}

type sinkFunc func(scheduler.Event)

func (f sinkFunc) Emit(ev scheduler.Event) { f(ev) }

// Prune forgets checks no longer configured that last ran before the cut
// (record, history and its count) and guards whose newest failure is older;
// configured checks and recent ones stay whatever their age.
func TestPruneForgetsRemovedChecks(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, Options{})
	defer db.Close()
	cut := t0.Add(24 * time.Hour)
	var batch []scheduler.Update
	for id, last := range map[scheduler.CheckID]time.Time{
		"gone/imap/basic":   t0,                      // removed long ago: pruned
		"recent/imap/basic": cut.Add(time.Minute),    // removed recently: kept
		"kept/imap/basic":   t0.Add(-48 * time.Hour), // configured: kept
	} {
		for i := range 3 {
			batch = append(batch, scheduler.Update{ID: id, Record: &scheduler.Record{LastRun: last},
				History: &scheduler.HistoryEntry{Time: last.Add(-time.Duration(3-i) * time.Minute), OK: true}})
		}
	}
	batch = append(batch,
		scheduler.Update{ID: "kept/imap/basic", Guard: &scheduler.GuardRecord{Account: "old@c.example", Failures: []time.Time{t0.Add(-time.Hour), t0}}},
		scheduler.Update{ID: "kept/imap/basic", Guard: &scheduler.GuardRecord{Account: "new@c.example", Failures: []time.Time{t0, cut.Add(time.Second)}}})
	// The guard updates carry an empty record: write the real one last.
	batch = append(batch, scheduler.Update{ID: "kept/imap/basic", Record: &scheduler.Record{LastRun: t0.Add(-48 * time.Hour)}})
	if err := db.Commit(batch); err != nil {
		t.Fatal(err)
	}
	n, err := db.Prune(map[scheduler.CheckID]bool{"kept/imap/basic": true}, cut)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d checks, err %v; want 1", n, err)
	}
	recs, _ := db.LoadRecords()
	if _, ok := recs["gone/imap/basic"]; ok || len(recs) != 2 {
		t.Fatalf("records after prune: %v", recs)
	}
	for id, want := range map[scheduler.CheckID]int{"gone/imap/basic": 0, "recent/imap/basic": 3, "kept/imap/basic": 3} {
		if h, _ := db.History(id, 0); len(h) != want {
			t.Errorf("history of %s: %d entries, want %d", id, len(h), want)
		}
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bHCount).Get([]byte("gone/imap/basic")) != nil {
			t.Error("history count of the pruned check left behind")
		}
		return nil
	})
	gs, _ := db.LoadGuards()
	if _, ok := gs["old@c.example"]; ok || len(gs["new@c.example"]) != 2 {
		t.Errorf("guards after prune: %v", gs)
	}
	// A pruned check that comes back starts afresh, its history bounded
	// from zero.
	if err := db.Commit([]scheduler.Update{{ID: "gone/imap/basic", Record: &scheduler.Record{LastRun: cut},
		History: &scheduler.HistoryEntry{Time: cut, OK: true}}}); err != nil {
		t.Fatal(err)
	}
	if h, _ := db.History("gone/imap/basic", 0); len(h) != 1 {
		t.Errorf("history of the returning check: %d entries, want 1", len(h))
	}
}

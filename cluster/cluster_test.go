package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastConfig gossips and detects failures in fractions of a second, so the
// tests wait for conditions in about a second rather than memberlist's
// LAN timings.
func fastConfig(name string, peers ...string) Config {
	return Config{ListenAddress: "127.0.0.1:0", Name: name, Peers: peers, Logger: quiet,
		GossipInterval: 20 * time.Millisecond, PushPullInterval: 500 * time.Millisecond,
		ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond, TCPTimeout: time.Second,
		ReconnectInterval: 200 * time.Millisecond, SettleTimeout: 5 * time.Second, WebURL: "http://" + name + "/"}
}

// crash stops a member the way kill -9 does: no leave message, the others
// find out by failure detection.
func (p *Peer) crash() {
	close(p.stop)
	p.wg.Wait()
	_ = p.ml.Shutdown()
}

func (p *Peer) addr() string { return p.ml.LocalNode().Address() }

// startCluster starts n members on 127.0.0.1, each joining the first, and
// waits until all see all and have settled.
func startCluster(t *testing.T, n int) []*Peer {
	t.Helper()
	var ps []*Peer
	for i := range n {
		var peers []string
		if i > 0 {
			peers = []string{ps[0].addr()}
		}
		p, err := New(fastConfig(fmt.Sprintf("m%d", i), peers...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		ps = append(ps, p)
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.Settle(context.Background()) })
	}
	wg.Wait()
	waitFor(t, "every member sees every member", func() bool {
		for _, p := range ps {
			if len(*p.names.Load()) != n {
				return false
			}
		}
		return true
	})
	return ps
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within 20s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func accounts(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("printer-%03d@contoso.com", i))
	}
	return out
}

// owners returns, per account, the members claiming it.
func owners(ps []*Peer, accts []string) map[string][]string {
	out := map[string][]string{}
	for _, a := range accts {
		for _, p := range ps {
			if p.Owns(a) {
				out[a] = append(out[a], p.Name())
			}
		}
	}
	return out
}

func TestOwnershipIsUniqueAndSpread(t *testing.T) {
	ps := startCluster(t, 3)
	accts := accounts(300)
	per := map[string]int{}
	for a, os := range owners(ps, accts) {
		if len(os) != 1 {
			t.Fatalf("%s owned by %v", a, os)
		}
		per[os[0]]++
	}
	if len(owners(ps, accts)) != len(accts) {
		t.Fatal("some accounts have no owner")
	}
	for _, p := range ps {
		// 100 expected each; rendezvous hashing is uniform, so far less
		// than half or more than double would mean a broken hash.
		if n := per[p.Name()]; n < 50 || n > 200 {
			t.Errorf("%s owns %d of 300 accounts: %v", p.Name(), n, per)
		}
	}
	// Every member computes the same owner.
	for _, a := range accts {
		if o0, o1, o2 := ps[0].Owner(a), ps[1].Owner(a), ps[2].Owner(a); o0 != o1 || o1 != o2 {
			t.Fatalf("members disagree on %s: %s %s %s", a, o0, o1, o2)
		}
	}
}

func TestOwnerMovesOnlyTheDeadMembersAccounts(t *testing.T) {
	names := []string{"a", "b", "c"}
	accts := accounts(1000)
	moved := 0
	for _, acct := range accts {
		before := owner(names, acct)
		after := owner([]string{"a", "b"}, acct)
		if before != "c" && after != before {
			t.Fatalf("%s moved from %s to %s though %s is alive", acct, before, after, before)
		}
		if before == "c" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("c owned nothing")
	}
}

func TestFailoverMovesAccountsAndKeepsGuardRecords(t *testing.T) {
	ps := startCluster(t, 3)
	accts := accounts(60)
	// An account the member about to die owns, with two failures and an
	// attempt in flight when it dies.
	var victim string
	for _, a := range accts {
		if ps[2].Owns(a) {
			victim = a
			break
		}
	}
	if victim == "" {
		t.Fatal("member 2 owns none of 60 accounts")
	}
	now := time.Now()
	ps[2].GuardPublish(victim, []time.Time{now.Add(-2 * time.Minute), now.Add(-time.Minute)}, 1)
	since := now.Add(-time.Hour)
	waitFor(t, "the guard record reaches the others", func() bool {
		return len(ps[0].GuardOthers(victim, since)) == 3 && len(ps[1].GuardOthers(victim, since)) == 3
	})
	if n := len(ps[2].GuardOthers(victim, since)); n != 0 {
		t.Errorf("a member counts its own current record as another's: %d", n)
	}

	killed := time.Now()
	ps[2].crash()
	survivors := ps[:2]
	waitFor(t, "every account owned by exactly one survivor", func() bool {
		os := owners(survivors, accts)
		for _, a := range accts {
			if len(os[a]) != 1 {
				return false
			}
		}
		return true
	})
	t.Logf("failure detection and ownership move: %v", time.Since(killed).Round(time.Millisecond))
	for _, p := range survivors {
		// The dead member's failures and its in-flight attempt still count.
		if n := len(p.GuardOthers(victim, since)); n != 3 {
			t.Errorf("%s counts %d of the dead member's 3 guard entries", p.Name(), n)
		}
	}
}

func TestAnnouncementsReachEveryMember(t *testing.T) {
	ps := startCluster(t, 3)
	id := scheduler.CheckID("scanner/imap/basic")
	ev := scheduler.Event{ID: "01", Time: time.Now(), Kind: scheduler.EventRegressed, CheckID: id,
		Expect: scheduler.ExpectOK, Cause: diagnose.CauseBasicAuthDisabled, PrevCause: diagnose.CauseOK,
		Since: time.Now().Add(-time.Minute), Finding: &diagnose.Finding{Confidence: diagnose.Definitive}}
	ps[1].Emit(ev)
	waitFor(t, "the announcement reaches every member", func() bool {
		for _, p := range ps {
			got, ok := p.Announced(id)
			if !ok || got.Kind != ev.Kind || got.Cause != ev.Cause || !got.Since.Equal(ev.Since) {
				return false
			}
		}
		return true
	})
	// A later member joining gets it by push-pull.
	late, err := New(fastConfig("late", ps[0].addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	waitFor(t, "a member joining later learns the announcement", func() bool {
		_, ok := late.Announced(id)
		return ok
	})
}

func TestHandler(t *testing.T) {
	ps := startCluster(t, 2)
	checks := func() []scheduler.Placement {
		return []scheduler.Placement{{ID: "a/imap/basic", Account: "a@contoso.com"}, {ID: "b/imap/basic", Account: "b@contoso.com"}}
	}
	srv := httptest.NewServer(ps[0].Handler(checks))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !st.Enabled || st.Name != "m0" || len(st.Members) != 2 || len(st.Checks) != 2 {
		t.Fatalf("status: %+v", st)
	}
	for _, c := range st.Checks {
		if c.Owner != ps[0].Owner(c.Account) || c.OwnerURL != "http://"+c.Owner+"/" {
			t.Errorf("ownership row %+v", c)
		}
	}
	// Single instance: no peer, everything is its own.
	srv2 := httptest.NewServer((*Peer)(nil).Handler(checks))
	defer srv2.Close()
	resp2, err := srv2.Client().Get(srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var st2 Status
	_ = json.NewDecoder(resp2.Body).Decode(&st2)
	if st2.Enabled || len(st2.Checks) != 2 {
		t.Errorf("single instance status: %+v", st2)
	}
}

// attemptLog records every attempt of every member.
type attemptLog struct {
	mu  sync.Mutex
	all []attemptRec
}

type attemptRec struct {
	member string
	id     scheduler.CheckID
	at     time.Time
	ok     bool
}

type recProber struct {
	member string
	log    *attemptLog
}

func (r recProber) Probe(ctx context.Context, c probe.Check) probe.Attempt {
	a := probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
		Start: time.Now(), Stage: probe.StageDone, OK: true}
	if c.Mechanism == probe.Basic {
		// A wrong password's generic words: counts against the guard.
		a.OK, a.Stage, a.ErrorKind, a.Reply = false, probe.StageAuth, probe.ErrRefused, "a1 NO LOGIN failed."
	}
	r.log.mu.Lock()
	r.log.all = append(r.log.all, attemptRec{member: r.member, id: scheduler.MakeID(c.Target.Name, c.Protocol, c.Mechanism),
		at: a.Start, ok: a.OK})
	r.log.mu.Unlock()
	return a
}

func (l *attemptLog) snapshot() []attemptRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

type evLog struct {
	mu  sync.Mutex
	evs []scheduler.Event
}

func (e *evLog) Emit(ev scheduler.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

// Three schedulers over three members: each check runs on one member once
// per interval, a member's death moves its checks, the guard never lets
// the cluster exceed 3 failed logins per account per window, and a moved
// failing check does not announce its incident again.
func TestSchedulersShareTheWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	ps := startCluster(t, 3)
	const interval = 200 * time.Millisecond
	const window = 3 * time.Second
	var specs []scheduler.CheckSpec
	for i := range 24 {
		tg := &probe.Target{Name: fmt.Sprintf("t%02d", i), User: fmt.Sprintf("t%02d@contoso.com", i),
			IMAPAddr: "127.0.0.1:993", SMTPAddr: "127.0.0.1:587"}
		specs = append(specs,
			scheduler.CheckSpec{Target: tg, Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Interval: interval, Timeout: time.Second},
			scheduler.CheckSpec{Target: tg, Protocol: probe.IMAP, Mechanism: probe.Basic, Interval: interval, Timeout: time.Second})
	}
	log := &attemptLog{}
	evs := make([]*evLog, 3)
	cancels := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	for i, p := range ps {
		evs[i] = &evLog{}
		s, err := scheduler.New(scheduler.Options{Prober: recProber{member: p.Name(), log: log}, Logger: quiet,
			Cluster: p, Sinks: []scheduler.EventSink{p, evs[i]}, NoConfirm: true, GuardLimit: 3, GuardWindow: window,
			MaxPerHost: 64})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetChecks(specs); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Go(func() { _ = s.Run(ctx) })
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()

	time.Sleep(10 * interval) // let it run: the figures below are what it did
	steady := log.snapshot()
	perCheck := map[scheduler.CheckID]map[string]int{}
	for _, r := range steady {
		if perCheck[r.id] == nil {
			perCheck[r.id] = map[string]int{}
		}
		perCheck[r.id][r.member]++
	}
	for _, sp := range specs {
		m := perCheck[sp.ID()]
		if len(m) != 1 {
			t.Errorf("%s ran on %d members: %v", sp.ID(), len(m), m)
		}
		if sp.Mechanism == probe.XOAUTH2 {
			// Exact rates are the benchmark's (bench/cluster); here: it
			// runs, and never more than once per interval.
			for _, n := range m {
				if n < 3 || n > 11 {
					t.Errorf("%s ran %d times in 10 intervals", sp.ID(), n)
				}
			}
		}
	}

	// Kill member 2 the hard way.
	killAt := time.Now()
	cancels[2]()
	ps[2].crash()
	var dead []scheduler.CheckID
	for _, sp := range specs {
		if perCheck[sp.ID()][ps[2].Name()] > 0 && sp.Mechanism == probe.XOAUTH2 {
			dead = append(dead, sp.ID())
		}
	}
	if len(dead) == 0 {
		t.Fatal("member 2 owned no XOAUTH2 check")
	}
	waitFor(t, "the dead member's checks run on survivors", func() bool {
		seen := map[scheduler.CheckID]bool{}
		for _, r := range log.snapshot() {
			if r.at.After(killAt) && r.member != ps[2].Name() {
				seen[r.id] = true
			}
		}
		for _, id := range dead {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	t.Logf("failover: every moved check probed again %v after the kill", time.Since(killAt).Round(time.Millisecond))
	time.Sleep(window) // long enough for the guard to matter after the move

	// Failed Basic logins per account in any window, over all members.
	byAcct := map[scheduler.CheckID][]time.Time{}
	for _, r := range log.snapshot() {
		if !r.ok {
			byAcct[r.id] = append(byAcct[r.id], r.at)
		}
	}
	for id, ts := range byAcct {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := range ts {
			n := 0
			for _, u := range ts[i:] {
				if u.Sub(ts[i]) < window {
					n++
				}
			}
			if n > 3 {
				t.Fatalf("%s: %d failed logins within %v across members: %v", id, n, window, ts)
			}
		}
	}
	// Each Basic check's incident (it never logged in) is announced once
	// by the cluster, even for checks that moved.
	regressed := map[scheduler.CheckID]int{}
	for _, e := range evs {
		e.mu.Lock()
		for _, ev := range e.evs {
			// Handover events record a change of owner, not an announcement.
			if ev.Kind == scheduler.EventRegressed && ev.Handover == "" {
				regressed[ev.CheckID]++
			}
		}
		e.mu.Unlock()
	}
	adopted := 0
	for _, e := range evs {
		e.mu.Lock()
		for _, ev := range e.evs {
			if ev.Handover == scheduler.HandoverAdopted {
				adopted++
			}
		}
		e.mu.Unlock()
	}
	for _, sp := range specs {
		if sp.Mechanism == probe.Basic && regressed[sp.ID()] != 1 {
			t.Errorf("%s announced %d times", sp.ID(), regressed[sp.ID()])
		}
	}
	if adopted == 0 {
		t.Error("no failing check was adopted by a survivor (the alerts would not follow it)")
	}
}

// With a secret key, gossip is encrypted: a member with another key (or
// none) cannot join, so it cannot forge guard records or announcements.
func TestSecretKeyKeepsStrangersOut(t *testing.T) {
	key := []byte("0123456789abcdef")
	a := fastConfig("a")
	a.SecretKey = key
	pa, err := New(a)
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	b := fastConfig("b", pa.addr())
	b.SecretKey = key
	pb, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	waitFor(t, "members with the same key join", func() bool { return len(*pa.names.Load()) == 2 })
	for _, k := range [][]byte{nil, []byte("fedcba9876543210")} {
		c := fastConfig("stranger", pa.addr())
		c.SecretKey = k
		pc, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		pc.GuardPublish("victim@contoso.com", []time.Time{time.Now(), time.Now(), time.Now()}, 0)
		time.Sleep(500 * time.Millisecond) // several gossip and push-pull rounds
		if n := len(*pa.names.Load()); n != 2 {
			t.Errorf("a member with key %q joined: %v", k, *pa.names.Load())
		}
		if got := pa.GuardOthers("victim@contoso.com", time.Now().Add(-time.Hour)); len(got) != 0 {
			t.Errorf("a stranger's guard record was accepted: %v", got)
		}
		pc.Close()
	}
	if _, err := New(Config{ListenAddress: "127.0.0.1:0", Name: "x", SecretKey: []byte("short"), Logger: quiet}); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

// An operator clears an account's guard on any member: every member stops
// counting the failures up to then, the owner's own included.
func TestGuardClearReachesEveryMember(t *testing.T) {
	ps := startCluster(t, 2)
	acct := "scanner@contoso.com"
	now := time.Now()
	since := now.Add(-time.Hour)
	ps[0].GuardPublish(acct, []time.Time{now.Add(-3 * time.Minute), now.Add(-2 * time.Minute), now.Add(-time.Minute)}, 0)
	waitFor(t, "the failures reach the other member", func() bool { return len(ps[1].GuardOthers(acct, since)) == 3 })
	ps[1].GuardClear(acct)
	waitFor(t, "the clear reaches the member that counted the failures", func() bool {
		return !ps[0].GuardCleared(acct).IsZero()
	})
	if n := len(ps[1].GuardOthers(acct, since)); n != 0 {
		t.Errorf("the clearing member still counts %d failures", n)
	}
	if c := ps[0].GuardCleared(acct); c.Before(now) {
		t.Errorf("cleared at %v, before the failures it clears", c)
	}
	// Later failures count again, and a later publish keeps the clear.
	later := time.Now().Add(time.Second)
	ps[0].GuardPublish(acct, []time.Time{now.Add(-time.Minute), later}, 0)
	waitFor(t, "the new failure counts", func() bool {
		got := ps[1].GuardOthers(acct, since)
		return len(got) == 1 && got[0].Equal(later)
	})
	// Expiry keeps a clear while the window may still hold what it hides.
	ps[1].expire(time.Now())
	if ps[1].GuardCleared(acct).IsZero() {
		t.Error("the clear was expired inside the window")
	}
}

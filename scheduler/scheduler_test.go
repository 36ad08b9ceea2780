package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

var t0 = time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)

// fakeProber answers from a per-check script and records what it saw.
type fakeProber struct {
	clock *FakeClock
	mu    sync.Mutex
	// answer returns (ok, cause, reply) for a check; default ok.
	answer func(id CheckID, n int) (bool, diagnose.Cause, string)
	// hang: checks whose probe blocks until ctx is done.
	hang map[CheckID]bool
	// gate, when set, blocks every probe until closed.
	gate chan struct{}

	calls       map[CheckID][]time.Time
	inflight    int
	maxInflight int
	hostIn      map[string]int
	maxHost     map[string]int
	cancelled   int
}

func newFakeProber(c *FakeClock) *fakeProber {
	return &fakeProber{clock: c, hang: map[CheckID]bool{}, calls: map[CheckID][]time.Time{},
		hostIn: map[string]int{}, maxHost: map[string]int{}}
}

func (f *fakeProber) Probe(ctx context.Context, c probe.Check) probe.Attempt {
	id := MakeID(c.Target.Name, c.Protocol, c.Mechanism)
	host := c.Target.Addr(c.Protocol)
	f.mu.Lock()
	n := len(f.calls[id])
	f.calls[id] = append(f.calls[id], f.clock.Now())
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.hostIn[host]++
	f.maxHost[host] = max(f.maxHost[host], f.hostIn[host])
	hang, gate, answer := f.hang[id], f.gate, f.answer
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.hostIn[host]--
		f.mu.Unlock()
	}()
	a := probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
		Start: f.clock.Now(), Stage: probe.StageDone, OK: true}
	if hang {
		<-ctx.Done()
		f.mu.Lock()
		f.cancelled++
		f.mu.Unlock()
		a.OK, a.Stage, a.ErrorKind = false, probe.StageGreeting, probe.ErrTimeout
		return a
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	if answer != nil {
		ok, cause, reply := answer(id, n)
		if !ok {
			a.OK, a.Stage, a.ErrorKind, a.Reply = false, probe.StageAuth, probe.ErrRefused, reply
			if reply == "" {
				a.Reply = "cause:" + string(cause) + fmt.Sprintf(" trace %d", n) // words change every time
			}
		}
	}
	return a
}

func (f *fakeProber) count(id CheckID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls[id])
}

func (f *fakeProber) times(id CheckID) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls[id]...)
}

// causeClassifier reads the cause the fake prober put in the reply.
func causeClassifier(as []probe.Attempt) []diagnose.Finding {
	var out []diagnose.Finding
	for _, a := range as {
		if a.OK {
			continue
		}
		var c string
		fmt.Sscanf(a.Reply, "cause:%s", &c)
		if c == "" {
			c = string(diagnose.CauseThrottled)
		}
		out = append(out, diagnose.Finding{Cause: diagnose.Cause(c), Confidence: diagnose.Definitive,
			Protocol: string(a.Protocol), Mechanism: string(a.Mechanism)})
	}
	return out
}

type sinkRec struct {
	mu  sync.Mutex
	evs []Event
}

func (s *sinkRec) Emit(ev Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

func (s *sinkRec) list() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

type harness struct {
	t      *testing.T
	clock  *FakeClock
	prober *fakeProber
	sink   *sinkRec
	store  *MemStore
	s      *Scheduler
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, opt Options, store *MemStore) *harness {
	t.Helper()
	h := &harness{t: t, clock: NewFakeClock(t0), sink: &sinkRec{}, store: store}
	if h.store == nil {
		h.store = NewMemStore()
	}
	h.prober = newFakeProber(h.clock)
	opt.Clock, opt.Prober, opt.Store = h.clock, h.prober, h.store
	opt.Sinks = append(opt.Sinks, h.sink)
	if opt.Classifier == nil {
		opt.Classifier = causeClassifier
	}
	opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if opt.CommitDelay == 0 {
		// Group commit waits in real time; tests step a fake clock and
		// settle after every step. TestGroupCommit covers the delay.
		opt.CommitDelay = -1
	}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

// settle waits until nothing is due, running or waiting, and every update
// has been committed.
//
// It also wakes the loop on every poll: the loop computes its sleep from the
// fake clock's Now and then creates the timer, and a test advancing the
// clock between the two would leave it asleep past a due check (a wall
// clock cannot jump between the two calls). A spurious wake-up only makes
// the loop dispatch again.
func (h *harness) settle() {
	h.t.Helper()
	waitFor(h.t, func() bool { h.s.signal(); return h.s.idle() })
}

// step advances the clock by d in steps of at most 1s, settling after each
// so that every due check runs at its time.
func (h *harness) advance(d, step time.Duration) {
	h.t.Helper()
	for d > 0 {
		s := min(step, d)
		h.clock.Advance(s)
		h.settle()
		d -= s
	}
}

// runNext jumps to the check's next planned run and lets it complete.
func (h *harness) runNext(id CheckID) time.Time {
	h.t.Helper()
	st, ok := h.s.Check(id)
	if !ok {
		h.t.Fatalf("no check %s", id)
	}
	n := h.prober.count(id)
	h.clock.Set(st.NextRun)
	waitFor(h.t, func() bool { return h.prober.count(id) > n })
	h.settle()
	return st.NextRun
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func target(name, user, host string) *probe.Target {
	return &probe.Target{Name: name, User: user, IMAPAddr: host + ":993", POPAddr: host + ":995", SMTPAddr: host + ":587"}
}

func spec(t *probe.Target, p probe.Protocol, m probe.Mechanism, every time.Duration) CheckSpec {
	return CheckSpec{Target: t, Protocol: p, Mechanism: m, Interval: every, Timeout: time.Hour}
}

func TestPhaseSpreading(t *testing.T) {
	const n, interval = 6000, 5 * time.Minute
	now := t0.Add(17 * time.Second)
	buckets := make([]int, 10)
	perSecond := map[int64]int{}
	for i := range n {
		id := MakeID(fmt.Sprintf("t%05d", i), probe.IMAP, probe.Basic)
		at := firstSlot(id, interval, now)
		if at.Before(now) || !at.Before(now.Add(interval)) {
			t.Fatalf("%s first slot %v outside [now, now+interval)", id, at)
		}
		if again := firstSlot(id, interval, now); !again.Equal(at) {
			t.Fatalf("phase not deterministic: %v vs %v", at, again)
		}
		buckets[int(at.Sub(now)/(interval/10))]++
		perSecond[at.Unix()]++
	}
	for i, b := range buckets {
		// uniform would be 600 per bucket
		if b < 480 || b > 720 {
			t.Errorf("bucket %d has %d of %d checks: not spread (%v)", i, b, n, buckets)
		}
	}
	worst := 0
	for _, c := range perSecond {
		worst = max(worst, c)
	}
	if worst > 60 { // uniform: 20 per second
		t.Errorf("%d checks start within one second", worst)
	}
}

func TestNextSlotKeepsPhaseAndSkipsMissed(t *testing.T) {
	prev := t0
	if got := nextSlot(prev, time.Minute, t0.Add(10*time.Second)); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("got %v", got)
	}
	// a probe that ran 3.5 intervals late does not make up missed slots
	if got := nextSlot(prev, time.Minute, t0.Add(210*time.Second)); !got.Equal(t0.Add(4 * time.Minute)) {
		t.Fatalf("got %v", got)
	}
}

func TestConcurrencyAndPerHostLimits(t *testing.T) {
	h := newHarness(t, Options{MaxInFlight: 10, MaxPerHost: 4}, nil)
	h.prober.gate = make(chan struct{})
	var specs []CheckSpec
	for i := range 60 {
		host := fmt.Sprintf("h%d.example", i%3)
		specs = append(specs, spec(target(fmt.Sprintf("t%02d", i), fmt.Sprintf("u%02d@c.example", i), host), probe.IMAP, probe.XOAUTH2, time.Minute))
	}
	if err := h.s.SetChecks(specs); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.clock.Advance(time.Minute) // everything is due
	waitFor(t, func() bool { h.prober.mu.Lock(); defer h.prober.mu.Unlock(); return h.prober.inflight == 10 })
	st := h.s.Stats()
	if st.HostWait+st.Queued+st.InFlight != 60 {
		t.Fatalf("stats %+v", st)
	}
	close(h.prober.gate)
	h.settle()
	h.prober.mu.Lock()
	defer h.prober.mu.Unlock()
	if h.prober.maxInflight != 10 {
		t.Errorf("max in flight %d, want exactly the limit 10", h.prober.maxInflight)
	}
	for host, m := range h.prober.maxHost {
		if m > 4 {
			t.Errorf("host %s had %d in flight, limit 4", host, m)
		}
	}
	total := 0
	for _, c := range h.prober.calls {
		total += len(c)
	}
	if total != 60 {
		t.Errorf("%d probes ran, want each of 60 checks once", total)
	}
}

func TestPerHostLimitAlone(t *testing.T) {
	h := newHarness(t, Options{MaxInFlight: 100, MaxPerHost: 2}, nil)
	h.prober.gate = make(chan struct{})
	var specs []CheckSpec
	for i := range 10 {
		specs = append(specs, spec(target(fmt.Sprintf("t%02d", i), "u@x", "one.example"), probe.SMTP, probe.XOAUTH2, time.Minute))
	}
	h.s.SetChecks(specs)
	h.start()
	h.clock.Advance(time.Minute)
	waitFor(t, func() bool {
		h.prober.mu.Lock()
		defer h.prober.mu.Unlock()
		return h.prober.inflight == 2 && h.s.Stats().HostWait == 8
	})
	close(h.prober.gate)
	h.settle()
	if m := h.prober.maxHost["one.example:587"]; m != 2 {
		t.Fatalf("max per host %d, want 2", m)
	}
}

func TestLockoutGuardNeverMoreThanThreeFailuresPerHour(t *testing.T) {
	h := newHarness(t, Options{MaxInFlight: 10, ConfirmDelay: 30 * time.Second}, nil)
	h.prober.answer = func(id CheckID, n int) (bool, diagnose.Cause, string) {
		if _, _, m, _ := id.Split(); m == probe.Basic {
			return false, diagnose.CauseBadCredentials, ""
		}
		return true, diagnose.CauseOK, ""
	}
	tg := target("scanner", "Scanner@Contoso.com", "outlook.office365.com")
	// Two targets share the account: the guard is per account.
	tg2 := target("scanner-2", "scanner@contoso.com", "outlook.office365.com")
	var specs []CheckSpec
	for _, p := range probe.Protocols {
		specs = append(specs, spec(tg, p, probe.Basic, time.Minute), spec(tg, p, probe.XOAUTH2, time.Minute),
			spec(tg2, p, probe.Basic, 2*time.Minute))
	}
	h.s.SetChecks(specs)
	h.start()
	h.advance(3*time.Hour, 10*time.Second)

	var fails []time.Time
	for _, sp := range specs {
		if sp.Mechanism == probe.Basic {
			fails = append(fails, h.prober.times(sp.ID())...)
		}
	}
	sort.Slice(fails, func(i, j int) bool { return fails[i].Before(fails[j]) })
	if len(fails) < 6 {
		t.Fatalf("only %d Basic attempts in 3 h: the guard starves the account", len(fails))
	}
	for i := range fails {
		n := 0
		for _, f := range fails[i:] {
			if f.Sub(fails[i]) < time.Hour {
				n++
			}
		}
		if n > 3 {
			t.Fatalf("%d failed Basic logins within an hour from %v (all: %v)", n, fails[i], fails)
		}
	}
	// XOAUTH2 on the same account is not held back.
	if c := h.prober.count(MakeID("scanner", probe.IMAP, probe.XOAUTH2)); c < 170 {
		t.Errorf("XOAUTH2 ran %d times in 3 h at 1/min", c)
	}
	st, _ := h.s.Check(MakeID("scanner", probe.SMTP, probe.Basic))
	if st.LockoutGuard == nil || st.LockoutGuard.Account != "scanner@contoso.com" || st.LockoutGuard.Limit != 3 {
		t.Fatalf("guard not visible: %+v", st.LockoutGuard)
	}
	if st.LockoutGuard.Active && !st.NextRun.After(h.clock.Now()) {
		t.Errorf("active guard but next run %v is not in the future", st.NextRun)
	}
	if h.s.Stats().GuardHolds == 0 {
		t.Error("no guard holds counted")
	}
	failing := 0
	for _, st := range h.s.Snapshot() {
		if st.Mechanism == probe.Basic && st.Status == StatusFailing && st.Cause == diagnose.CauseBadCredentials {
			failing++
		}
	}
	if failing == 0 {
		t.Error("no Basic check confirmed bad_credentials")
	}
}

// maxInAnyHour is the largest number of the times that fall within one
// hour of each other.
func maxInAnyHour(ts []time.Time) int {
	ts = append([]time.Time(nil), ts...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	most := 0
	for i := range ts {
		n := 0
		for _, f := range ts[i:] {
			if f.Sub(ts[i]) < time.Hour {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// genericRefusals are Exchange's usual answers to a wrong password, which
// diagnosis cannot tell from other refusals (exo-responses I1, P1, S15).
var genericRefusals = map[probe.Protocol]string{
	probe.IMAP: "a1 NO LOGIN failed.",
	probe.POP:  "-ERR Logon failure: unknown user name or bad password.",
	probe.SMTP: "535 5.7.3 Authentication unsuccessful [AM0PR01CA0001.eurprd01.prod.exchangelabs.com 2026-12-31T23:00:00.000Z 08DD0000000000]",
}

// A wrong password on Exchange mostly gets generic words that the real
// classifier calls unknown: those failures count against the guard too.
func TestLockoutGuardCountsGenericRefusals(t *testing.T) {
	h := newHarness(t, Options{MaxInFlight: 10, ConfirmDelay: 30 * time.Second, Classifier: diagnose.Classify}, nil)
	h.prober.answer = func(id CheckID, n int) (bool, diagnose.Cause, string) {
		_, p, _, _ := id.Split()
		return false, "", genericRefusals[p]
	}
	tg := target("era2023", "user@contoso.com", "outlook.office365.com")
	var specs []CheckSpec
	for _, p := range probe.Protocols {
		specs = append(specs, spec(tg, p, probe.Basic, 30*time.Second))
	}
	if err := h.s.SetChecks(specs); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(3*time.Hour, 10*time.Second)

	var fails []time.Time
	for _, sp := range specs {
		fails = append(fails, h.prober.times(sp.ID())...)
	}
	if len(fails) < 6 {
		t.Fatalf("only %d Basic attempts in 3 h: the guard starves the account", len(fails))
	}
	if n := maxInAnyHour(fails); n > 3 {
		t.Fatalf("%d failed Basic logins within an hour (%d in 3 h)", n, len(fails))
	}
	// The test is only worth something if the generic refusals really are
	// unknown to diagnosis (for IMAP and POP at least).
	st, _ := h.s.Check(MakeID("era2023", probe.IMAP, probe.Basic))
	if st.LastFinding == nil || st.LastFinding.Cause != diagnose.CauseUnknown {
		t.Fatalf("IMAP's generic refusal diagnosed as %+v, want unknown", st.LastFinding)
	}
	if st.LockoutGuard == nil || len(st.LockoutGuard.Failures) == 0 {
		t.Fatalf("guard state not visible: %+v", st.LockoutGuard)
	}
}

// With XOAUTH2 working on the same mailbox, diagnosis reads SMTP's generic
// 535 5.7.3 to Basic as "Basic is off" (inferred); Exchange says that in
// words on SMTP, so the refusal may be a wrong password and counts.
func TestLockoutGuardCountsInferredSMTPBasicBlock(t *testing.T) {
	h := newHarness(t, Options{MaxInFlight: 10, ConfirmDelay: 30 * time.Second, Classifier: diagnose.Classify}, nil)
	h.prober.answer = func(id CheckID, n int) (bool, diagnose.Cause, string) {
		if _, _, m, _ := id.Split(); m == probe.Basic {
			return false, "", genericRefusals[probe.SMTP]
		}
		return true, diagnose.CauseOK, ""
	}
	tg := target("smtp-app", "app@contoso.com", "smtp.office365.com")
	basic, oauth := spec(tg, probe.SMTP, probe.Basic, 30*time.Second), spec(tg, probe.SMTP, probe.XOAUTH2, 30*time.Second)
	if err := h.s.SetChecks([]CheckSpec{basic, oauth}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(3*time.Hour, 10*time.Second)
	fails := h.prober.times(basic.ID())
	if len(fails) < 6 {
		t.Fatalf("only %d Basic attempts in 3 h", len(fails))
	}
	if n := maxInAnyHour(fails); n > 3 {
		t.Fatalf("%d failed Basic SMTP logins within an hour (%d in 3 h)", n, len(fails))
	}
	st, _ := h.s.Check(basic.ID())
	if st.LastFinding == nil || st.LastFinding.Cause != diagnose.CauseBasicAuthDisabled || st.LastFinding.Confidence != diagnose.Inferred {
		t.Fatalf("SMTP Basic diagnosed as %+v, want basic_auth_disabled inferred (else this test tests nothing)", st.LastFinding)
	}
}

func TestLockoutFailureRule(t *testing.T) {
	at := func(p probe.Protocol, st probe.Stage, k probe.ErrorKind) *probe.Attempt {
		return &probe.Attempt{Protocol: p, Mechanism: probe.Basic, Stage: st, ErrorKind: k}
	}
	refused := at(probe.IMAP, probe.StageAuth, probe.ErrRefused)
	smtpRefused := at(probe.SMTP, probe.StageAuth, probe.ErrRefused)
	def, inf := diagnose.Definitive, diagnose.Inferred
	for _, c := range []struct {
		name  string
		a     *probe.Attempt
		cause diagnose.Cause
		conf  diagnose.Confidence
		want  bool
	}{
		{"generic refusal", refused, diagnose.CauseUnknown, diagnose.Unsure, true},
		{"bad credentials", refused, diagnose.CauseBadCredentials, def, true},
		{"bad credentials inferred", smtpRefused, diagnose.CauseBadCredentials, inf, true},
		{"account locked", refused, diagnose.CauseAccountLocked, def, true},
		{"account disabled", refused, diagnose.CauseAccountDisabled, inf, true},
		{"no reply after the password", at(probe.IMAP, probe.StageAuth, probe.ErrTimeout), diagnose.CauseTimeout, def, true},
		{"connection dropped after the password", at(probe.POP, probe.StageAuth, probe.ErrConnect), diagnose.CauseNetworkError, def, true},
		// On SMTP's generic 535 5.7.3, Basic off inferred from XOAUTH2
		// working may be a wrong password; Exchange says Basic is off in
		// words when it is.
		{"smtp basic off, inferred", smtpRefused, diagnose.CauseBasicAuthDisabled, inf, true},
		{"smtp basic off, in words", smtpRefused, diagnose.CauseBasicAuthDisabled, def, false},
		{"imap basic off, inferred", refused, diagnose.CauseBasicAuthDisabled, inf, false},
		{"smtp basic retired", smtpRefused, diagnose.CauseBasicAuthRetired, def, false},
		{"smtp auth off", smtpRefused, diagnose.CauseSMTPAuthDisabledTenant, def, false},
		{"smtp auth off for the mailbox", smtpRefused, diagnose.CauseSMTPAuthDisabledMbx, def, false},
		{"security defaults", smtpRefused, diagnose.CauseSecurityDefaults, def, false},
		{"security defaults via the same password", refused, diagnose.CauseSecurityDefaults, inf, false},
		{"conditional access", smtpRefused, diagnose.CauseConditionalAccess, inf, false},
		{"mfa", refused, diagnose.CauseMFARequired, def, false},
		{"protocol off", refused, diagnose.CauseProtocolDisabled, inf, false},
		{"throttled", refused, diagnose.CauseThrottled, inf, false},
		{"mechanism", smtpRefused, diagnose.CauseAuthMechanismUnsupported, def, false},
		{"no TLS, password not sent", at(probe.IMAP, probe.StageAuth, probe.ErrPolicy), diagnose.CauseUnknown, diagnose.Unsure, false},
		{"password file unreadable", at(probe.IMAP, probe.StageAuth, probe.ErrConfig), diagnose.CauseConfigInvalid, diagnose.Definitive, false},
		{"timeout before auth", at(probe.IMAP, probe.StageGreeting, probe.ErrTimeout), diagnose.CauseTimeout, def, false},
		{"tls", at(probe.SMTP, probe.StageTLS, probe.ErrTLS), diagnose.CauseTLSError, def, false},
		{"refused after login", at(probe.IMAP, probe.StageMailbox, probe.ErrRefused), diagnose.CauseUnknown, diagnose.Unsure, false},
		{"ok", &probe.Attempt{OK: true, Stage: probe.StageDone}, diagnose.CauseOK, def, false},
	} {
		if got := lockoutFailure(c.a, c.cause, c.conf); got != c.want {
			t.Errorf("%s: counts %v, want %v", c.name, got, c.want)
		}
	}
}

// Every cause in diagnosis' catalog is decided for the guard: a cause added
// later must be put on one side or the other, not fall into "counts" (or
// "does not") unnoticed.
func TestLockoutCauseCatalogDecided(t *testing.T) {
	// Causes that count: the password may be what was refused (or the
	// cause is not about a Basic login at all, and counting is safe).
	counts := map[diagnose.Cause]bool{
		diagnose.CauseOK: true, diagnose.CauseBadCredentials: true, diagnose.CauseAccountLocked: true,
		diagnose.CauseAccountDisabled: true, diagnose.CauseOAuthTokenInvalid: true, diagnose.CauseOAuthNotAuthorized: true,
		diagnose.CauseTokenRequestFailed: true, diagnose.CauseTLSError: true, diagnose.CauseNetworkError: true,
		diagnose.CauseTimeout: true, diagnose.CauseUnknown: true,
		// Local faults: nothing reached the server at the auth stage
		// (lockoutFailure looks at the stage and ErrSecret first).
		diagnose.CauseSecretUnreadable: true, diagnose.CauseTLSModeMismatch: true, diagnose.CauseTokenEndpointUnreachable: true,
		diagnose.CauseConfigInvalid: true, // the probe stopped before it connected
		// Other servers: a disabled login is the account's; an app
		// password required means the normal password was sent and
		// refused, which counts like any refused password.
		diagnose.CauseLoginDisabled: true, diagnose.CauseAppPasswordRequired: true,
		// A limit crossed after the password went out: the server may
		// have judged it, so counting is the safe side.
		diagnose.CauseProtocolError: true,
	}
	for _, c := range diagnose.Causes() {
		if counts[c] == notPasswordCauses[c] {
			t.Errorf("cause %s: decide whether a Basic refusal with it counts against the lockout guard (notPasswordCauses) and list it here", c)
		}
	}
}

func TestLockoutGuardIgnoresOtherCauses(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) {
		return false, diagnose.CauseSMTPAuthDisabledTenant, ""
	}
	tg := target("t", "u@c.example", "smtp.example")
	h.s.SetChecks([]CheckSpec{spec(tg, probe.SMTP, probe.Basic, time.Minute)})
	h.start()
	h.advance(time.Hour, 30*time.Second)
	if c := h.prober.count(MakeID("t", probe.SMTP, probe.Basic)); c < 59 {
		t.Fatalf("ran %d times: refusals that are not about the password must not trip the guard", c)
	}
}

func TestConfirmReprobe(t *testing.T) {
	h := newHarness(t, Options{ConfirmDelay: 30 * time.Second}, nil)
	fail := switchToSMTPAuthOff(h)
	tg := target("t", "u@c.example", "smtp.example")
	id := MakeID("t", probe.SMTP, probe.Basic)
	h.s.SetChecks([]CheckSpec{spec(tg, probe.SMTP, probe.Basic, 5*time.Minute)})
	h.start()
	h.runNext(id)
	fail()
	first := h.runNext(id)
	st, _ := h.s.Check(id)
	if st.Status != StatusOK || st.Pending != diagnose.CauseSMTPAuthDisabledTenant {
		t.Fatalf("after the first failure: state %+v", st)
	}
	if len(h.sink.list()) != 0 {
		t.Fatal("event before confirmation")
	}
	if want := first.Add(30 * time.Second); !st.NextRun.Equal(want) {
		t.Fatalf("confirm re-probe planned at %v, want %v", st.NextRun, want)
	}
	h.runNext(id)
	waitFor(t, func() bool { return len(h.sink.list()) == 1 })
	ev := h.sink.list()[0]
	if ev.Kind != EventRegressed || ev.Cause != diagnose.CauseSMTPAuthDisabledTenant || ev.PrevCause != diagnose.CauseOK {
		t.Fatalf("event %+v", ev)
	}
	if !ev.Since.Equal(first) {
		t.Errorf("since %v, want the first sighting %v", ev.Since, first)
	}
	st, _ = h.s.Check(id)
	if want := first.Add(5 * time.Minute); !st.NextRun.Equal(want) {
		t.Errorf("after the confirm the check is back on its phase: next %v, want %v", st.NextRun, want)
	}
	// Still failing with new trace ids in the reply: no new event.
	for range 4 {
		h.runNext(id)
	}
	if n := len(h.sink.list()); n != 1 {
		t.Fatalf("%d events; new server words must not make new events", n)
	}
	evs, _ := h.s.Events(10)
	if len(evs) != 1 || evs[0].ID != ev.ID {
		t.Fatalf("stored events %+v", evs)
	}
	hist, _ := h.s.History(id, 100)
	if len(hist) != 7 || !hist[4].Confirm || hist[0].Confirm || hist[0].Time.Before(hist[1].Time) {
		t.Fatalf("history %+v", hist)
	}
}

func TestThrottleBackoff(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	const reply = "A1 NO Request is throttled. Suggested Backoff Time: 150000 milliseconds"
	h.prober.answer = func(id CheckID, n int) (bool, diagnose.Cause, string) {
		if id == MakeID("a", probe.IMAP, probe.Basic) && n == 1 {
			return false, diagnose.CauseThrottled, reply
		}
		return true, diagnose.CauseOK, ""
	}
	a := target("a", "a@c.example", "imap.example")
	a2 := target("a2", "a@c.example", "imap.example") // same account, same host
	b := target("b", "b@c.example", "imap.example")   // other account
	h.s.SetChecks([]CheckSpec{
		spec(a, probe.IMAP, probe.Basic, time.Minute),
		spec(a2, probe.IMAP, probe.XOAUTH2, time.Minute),
		spec(b, probe.IMAP, probe.Basic, time.Minute),
	})
	h.start()
	h.advance(2*time.Minute, time.Second) // runs 0 and 1 (throttled)
	ida := MakeID("a", probe.IMAP, probe.Basic)
	ts := h.prober.times(ida)
	if len(ts) != 2 {
		t.Fatalf("calls %v", ts)
	}
	throttledAt := ts[1]
	st, _ := h.s.Check(ida)
	if st.ThrottledUntil.IsZero() {
		t.Fatal("throttle not visible in state")
	}
	nb := h.prober.count(MakeID("b", probe.IMAP, probe.Basic))
	h.advance(3*time.Minute, time.Second)
	ts = h.prober.times(ida)
	if len(ts) < 3 || ts[2].Sub(throttledAt) < 150*time.Second {
		t.Fatalf("after a 150 s backoff the check ran at %v (throttled at %v)", ts, throttledAt)
	}
	for _, at := range h.prober.times(MakeID("a2", probe.IMAP, probe.XOAUTH2)) {
		if at.After(throttledAt) && at.Sub(throttledAt) < 150*time.Second {
			t.Errorf("same account on the same host ran at %v during the backoff", at)
		}
	}
	if got := h.prober.count(MakeID("b", probe.IMAP, probe.Basic)); got < nb+2 {
		t.Errorf("another account was held back too: %d → %d runs", nb, got)
	}
}

func TestThrottleBackoffParse(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  time.Duration
		ok    bool
	}{
		{"1069 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds", 299609 * time.Millisecond, true},
		{"BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds", 178755 * time.Millisecond, true},
		{"-ERR Server Unavailable. 21", 0, false},
		{"", 0, false},
	} {
		d, ok := ThrottleBackoff(&probe.Attempt{Reply: tc.reply})
		if d != tc.want || ok != tc.ok {
			t.Errorf("%q: %v %v", tc.reply, d, ok)
		}
	}
}

func TestHungTargetDoesNotDelayOthers(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ign) })
	h := newHarness(t, Options{MaxInFlight: 4, MaxPerHost: 4}, nil)
	hung := MakeID("hung", probe.IMAP, probe.Basic)
	h.prober.hang[hung] = true
	var specs []CheckSpec
	specs = append(specs, spec(target("hung", "h@c.example", "same.example"), probe.IMAP, probe.Basic, time.Minute))
	for i := range 3 {
		specs = append(specs, spec(target(fmt.Sprintf("ok%d", i), "o@c.example", "same.example"), probe.IMAP, probe.XOAUTH2, time.Minute))
	}
	h.s.SetChecks(specs)
	h.start()
	for i := 1; i <= 5; i++ {
		h.clock.Advance(time.Minute)
		waitFor(t, func() bool {
			for _, sp := range specs[1:] {
				if h.prober.count(sp.ID()) < i {
					return false
				}
			}
			return h.s.Stats().InFlight == 1
		})
	}
	for _, sp := range specs[1:] {
		if c := h.prober.count(sp.ID()); c != 5 {
			t.Errorf("%s ran %d times in 5 minutes next to a hung target", sp.ID(), c)
		}
	}
	if c := h.prober.count(hung); c != 1 {
		t.Errorf("hung check started %d times", c)
	}
	h.stop()
	h.prober.mu.Lock()
	defer h.prober.mu.Unlock()
	if h.prober.cancelled != 1 {
		t.Errorf("hung probe not cancelled at shutdown")
	}
}

func TestCleanShutdownFlushesState(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ign) })
	store := NewMemStore()
	h := newHarness(t, Options{NoConfirm: true}, store)
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) { return false, diagnose.CauseTimeout, "" }
	var specs []CheckSpec
	for i := range 20 {
		specs = append(specs, spec(target(fmt.Sprintf("t%d", i), "u@c.example", "h.example"), probe.POP, probe.XOAUTH2, time.Minute))
	}
	h.s.SetChecks(specs)
	h.start()
	h.advance(time.Minute, time.Minute)
	h.prober.hang[specs[0].ID()] = true
	h.clock.Advance(time.Minute)
	waitFor(t, func() bool { return h.prober.count(specs[0].ID()) == 2 })
	h.stop()
	recs, _ := store.LoadRecords()
	if len(recs) != 20 {
		t.Fatalf("%d records flushed, want 20", len(recs))
	}
	for id, r := range recs {
		if r.Machine.Status != StatusFailing {
			t.Errorf("%s: %s", id, r.Machine.Status)
		}
	}
	// The attempt cut short by shutdown is not an observation.
	if h, _ := store.History(specs[0].ID(), 100); len(h) != 1 {
		t.Errorf("history of the cancelled check has %d entries, want 1", len(h))
	}
}

func TestRestartResumesWithoutDuplicateEvents(t *testing.T) {
	store := NewMemStore()
	var mu sync.Mutex
	cause := diagnose.CauseOK
	answer := func(CheckID, int) (bool, diagnose.Cause, string) {
		mu.Lock()
		defer mu.Unlock()
		return cause == diagnose.CauseOK, cause, ""
	}
	set := func(c diagnose.Cause) { mu.Lock(); cause = c; mu.Unlock() }
	tg := target("t", "u@c.example", "h.example")
	sp := []CheckSpec{spec(tg, probe.SMTP, probe.Basic, time.Minute)}
	id := sp[0].ID()

	h1 := newHarness(t, Options{ConfirmDelay: 10 * time.Second}, store)
	h1.prober.answer = answer
	h1.s.SetChecks(sp)
	h1.start()
	h1.runNext(id)
	set(diagnose.CauseSMTPAuthDisabledTenant)
	h1.runNext(id)
	h1.runNext(id)
	h1.runNext(id)
	if evs := h1.sink.list(); len(evs) != 1 || evs[0].Kind != EventRegressed {
		t.Fatalf("first run events %+v", evs)
	}
	// A change is seen but not yet confirmed when we stop. (A cause that
	// is not about the password: the lockout guard must not hold it.)
	set(diagnose.CauseSMTPAuthDisabledMbx)
	h1.runNext(id)
	h1.stop()

	h2 := newHarness(t, Options{ConfirmDelay: 10 * time.Second}, store)
	h2.clock.Set(h1.clock.Now())
	h2.prober.answer = answer
	h2.s.SetChecks(sp)
	st, _ := h2.s.Check(id)
	if st.Status != StatusFailing || st.Cause != diagnose.CauseSMTPAuthDisabledTenant || st.Pending != diagnose.CauseSMTPAuthDisabledMbx {
		t.Fatalf("restored state %+v", st)
	}
	if !st.NextRun.Equal(h2.clock.Now().Add(10 * time.Second)) {
		t.Errorf("pending confirmation not resumed: next run %v", st.NextRun)
	}
	h2.start()
	h2.runNext(id)
	h2.runNext(id)
	evs := h2.sink.list()
	if len(evs) != 1 || evs[0].Kind != EventCauseChanged || evs[0].Cause != diagnose.CauseSMTPAuthDisabledMbx {
		t.Fatalf("after restart: %+v (want one cause_changed, no repeated regressed)", evs)
	}
	set(diagnose.CauseOK)
	h2.runNext(id)
	h2.runNext(id)
	h2.runNext(id)
	evs = h2.sink.list()
	if len(evs) != 2 || evs[1].Kind != EventRecovered {
		t.Fatalf("recovery missed: %+v", evs)
	}
	all, _ := store.Events(10)
	if len(all) != 3 {
		t.Fatalf("stored events %d, want 3", len(all))
	}
}

func TestPanickingProberIsContained(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	boom := MakeID("boom", probe.IMAP, probe.Basic)
	h.s.opt.Prober = ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		if c.Target.Name == "boom" {
			panic("nil map")
		}
		return h.prober.Probe(ctx, c)
	})
	h.s.SetChecks([]CheckSpec{
		spec(target("boom", "b@c.example", "h.example"), probe.IMAP, probe.Basic, time.Minute),
		spec(target("fine", "f@c.example", "h.example"), probe.IMAP, probe.Basic, time.Minute),
	})
	h.start()
	h.advance(3*time.Minute, 10*time.Second)
	st, _ := h.s.Check(boom)
	if st.Status != StatusFailing || st.LastAttempt == nil || st.LastAttempt.Error == "" {
		t.Fatalf("panic not recorded as a failure: %+v", st)
	}
	if h.s.Stats().Panics < 3 {
		t.Errorf("panics counted %d", h.s.Stats().Panics)
	}
	if c := h.prober.count(MakeID("fine", probe.IMAP, probe.Basic)); c != 3 {
		t.Errorf("healthy check ran %d times", c)
	}
}

func TestReloadRemovesAndAddsChecks(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	a := spec(target("a", "a@c.example", "h.example"), probe.IMAP, probe.Basic, time.Minute)
	b := spec(target("b", "b@c.example", "h.example"), probe.IMAP, probe.Basic, time.Minute)
	h.s.SetChecks([]CheckSpec{a})
	h.start()
	h.advance(2*time.Minute, 10*time.Second)
	if err := h.s.SetChecks([]CheckSpec{b}); err != nil {
		t.Fatal(err)
	}
	na := h.prober.count(a.ID())
	h.advance(3*time.Minute, 10*time.Second)
	if h.prober.count(a.ID()) != na {
		t.Error("removed check still runs")
	}
	if h.prober.count(b.ID()) < 2 {
		t.Error("added check does not run")
	}
	if snap := h.s.Snapshot(); len(snap) != 1 || snap[0].ID != b.ID() {
		t.Errorf("snapshot %+v", snap)
	}
	if err := h.s.SetChecks([]CheckSpec{b, b}); err == nil {
		t.Error("duplicate check accepted")
	}
}

// A check removed from the config keeps its state for RemovedGrace (put
// back, it resumes), then the store forgets its record and history.
func TestRemovedChecksArePrunedAfterGrace(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true, RemovedGrace: 3 * 24 * time.Hour}, nil)
	a := spec(target("a", "a@c.example", "h.example"), probe.IMAP, probe.XOAUTH2, time.Minute)
	b := spec(target("b", "b@c.example", "h.example"), probe.IMAP, probe.XOAUTH2, time.Minute)
	if err := h.s.SetChecks([]CheckSpec{a, b}); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.advance(5*time.Minute, 10*time.Second)
	before, _ := h.s.Check(b.ID())
	if before.Status != StatusOK || before.LastRun.IsZero() {
		t.Fatalf("b before removal: %+v", before)
	}
	if err := h.s.SetChecks([]CheckSpec{a}); err != nil {
		t.Fatal(err)
	}
	stored := func(id CheckID) (rec bool, hist int) {
		recs, _ := h.store.LoadRecords()
		_, rec = recs[id]
		hs, _ := h.store.History(id, 0)
		return rec, len(hs)
	}
	// Within the grace: kept, and putting it back resumes its state.
	h.advance(2*24*time.Hour, time.Hour)
	if rec, n := stored(b.ID()); !rec || n == 0 {
		t.Fatalf("within the grace b's record %v, history %d: pruned too early", rec, n)
	}
	if err := h.s.SetChecks([]CheckSpec{a, b}); err != nil {
		t.Fatal(err)
	}
	back, _ := h.s.Check(b.ID())
	if back.Status != StatusOK || !back.LastRun.Equal(before.LastRun) || !back.Since.Equal(before.Since) {
		t.Fatalf("b put back: %+v, want the state it had: %+v", back, before)
	}
	// Removed again: after the grace it is gone, a is untouched.
	if err := h.s.SetChecks([]CheckSpec{a}); err != nil {
		t.Fatal(err)
	}
	h.advance(4*24*time.Hour, time.Hour)
	if rec, n := stored(b.ID()); rec || n != 0 {
		t.Fatalf("after the grace b's record %v, history %d: not pruned", rec, n)
	}
	if rec, n := stored(a.ID()); !rec || n == 0 {
		t.Fatalf("configured check a lost its record %v / history %d", rec, n)
	}
	if err := h.s.SetChecks([]CheckSpec{a, b}); err != nil {
		t.Fatal(err)
	}
	if fresh, _ := h.s.Check(b.ID()); fresh.Status != StatusPending || !fresh.LastRun.IsZero() {
		t.Fatalf("b put back after the grace resumed old state: %+v", fresh)
	}
}

func TestSubscribe(t *testing.T) {
	h := newHarness(t, Options{NoConfirm: true}, nil)
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) { return false, diagnose.CauseTimeout, "" }
	h.s.SetChecks([]CheckSpec{spec(target("a", "a@c.example", "h.example"), probe.IMAP, probe.Basic, time.Minute)})
	ctx, cancel := context.WithCancel(context.Background())
	ch := h.s.Subscribe(ctx)
	h.start()
	h.advance(time.Minute, 10*time.Second)
	select {
	case ev := <-ch:
		if ev.Kind != EventRegressed || ev.ID == "" {
			t.Fatalf("%+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on subscription")
	}
	cancel()
	waitFor(t, func() bool { _, open := <-ch; return !open })
}

func TestCheckIDSplit(t *testing.T) {
	id := MakeID("team/scanner", probe.SMTP, probe.XOAUTH2)
	tg, p, m, ok := id.Split()
	if !ok || tg != "team/scanner" || p != probe.SMTP || m != probe.XOAUTH2 {
		t.Fatalf("%q %q %q %v", tg, p, m, ok)
	}
	if _, _, _, ok := CheckID("nope").Split(); ok {
		t.Fatal("malformed id accepted")
	}
}

func TestULIDOrderedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := NewULID(t0.Add(time.Duration(i/10) * time.Millisecond))
		if len(id) != 26 || seen[id] || id <= prev {
			t.Fatalf("id %d %q after %q", i, id, prev)
		}
		seen[id], prev = true, id
	}
}

// A check whose interval is shorter than the confirm delay is confirmed at
// its own next slot, not left unprobed for the whole delay.
func TestConfirmNotLaterThanInterval(t *testing.T) {
	h := newHarness(t, Options{ConfirmDelay: 30 * time.Second}, nil)
	fail := switchToSMTPAuthOff(h)
	tg := target("t", "u@c.example", "smtp.example")
	id := MakeID("t", probe.SMTP, probe.Basic)
	h.s.SetChecks([]CheckSpec{spec(tg, probe.SMTP, probe.Basic, 10*time.Second)})
	h.start()
	h.runNext(id)
	fail()
	first := h.runNext(id)
	st, _ := h.s.Check(id)
	if st.Pending != diagnose.CauseSMTPAuthDisabledTenant {
		t.Fatalf("after the first failure: state %+v", st)
	}
	if st.NextRun.Sub(first) > 10*time.Second {
		t.Fatalf("confirm re-probe planned %v after the failure, want at most the 10s interval", st.NextRun.Sub(first))
	}
	h.runNext(id)
	waitFor(t, func() bool { return len(h.sink.list()) == 1 })
	if hist, _ := h.s.History(id, 10); len(hist) < 1 || !hist[0].Confirm {
		t.Fatalf("the slot's attempt is not a confirm: %+v", hist)
	}
}

// switchToSMTPAuthOff makes the harness's logins succeed until the returned
// function is called, and fail with smtp_auth_disabled_tenant after it.
func switchToSMTPAuthOff(h *harness) func() {
	var failing atomic.Bool
	h.prober.answer = func(CheckID, int) (bool, diagnose.Cause, string) {
		if failing.Load() {
			return false, diagnose.CauseSMTPAuthDisabledTenant, ""
		}
		return true, diagnose.CauseOK, ""
	}
	return func() { failing.Store(true) }
}

package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/clip"
	"github.com/exoprobe/exoprobe/probe"
)

// CheckSpec is one configured check, as the config hands it over.
type CheckSpec struct {
	Target *probe.Target
	Labels map[string]string
	// AuthPolicy names the target's Exchange authentication policy, when
	// the config says, to fill the <policy> of remedies on the status page
	// and in alerts.
	AuthPolicy string
	Protocol   probe.Protocol
	Mechanism  probe.Mechanism
	Expect     Expectation
	Interval   time.Duration
	Timeout    time.Duration
}

// ID of the spec.
func (c CheckSpec) ID() CheckID { return MakeID(c.Target.Name, c.Protocol, c.Mechanism) }

// Options configure a Scheduler. Zero values mean the documented defaults.
type Options struct {
	Prober     Prober
	Classifier Classifier // nil: cause ok when the attempt is OK, unknown otherwise
	// ClassifyAt, when set, is used instead of Classifier: it diagnoses
	// only attempts[i], with the others as its comparison set, so that one
	// attempt does not re-classify (and render findings for) every sibling.
	// The daemon passes diagnose.ClassifyAt.
	ClassifyAt func(attempts []probe.Attempt, i int) diagnose.Finding
	Store      Store // nil: a MemStore
	Sinks      []EventSink
	Clock      Clock // nil: RealClock
	Logger     *slog.Logger

	// MaxInFlight bounds probes running at once (default 64).
	MaxInFlight int
	// MaxPerHost bounds probes running at once against one host:port
	// (default 8): Exchange throttles connections per client.
	MaxPerHost int
	// ConfirmDelay: a change of outcome is re-probed after this delay
	// before it counts (default 30s); NoConfirm turns confirmation off.
	ConfirmDelay time.Duration
	NoConfirm    bool
	// FailureThreshold, SuccessThreshold: agreeing confirmed observations
	// needed to change state (default 1).
	FailureThreshold, SuccessThreshold int
	// GuardLimit failed Basic logins per account per GuardWindow at most
	// (default 3 per hour; Entra smart lockout locks at 10).
	GuardLimit  int
	GuardWindow time.Duration
	// MaxThrottleBackoff caps a server's suggested backoff (default 1h).
	MaxThrottleBackoff time.Duration
	// RemovedGrace is how long the state and history of a check that is no
	// longer configured are kept (default 7 days, the store's default
	// history age; at least GuardWindow). Within it, a check put back in
	// the config resumes where it was, as after a restart; after it, a
	// store that implements Pruner forgets the check. The grace counts
	// from the check's last run (no removal time is stored), so a check
	// with an interval longer than the grace can go at once. Pruning runs
	// about every hour while the scheduler runs, starting with its first
	// commit.
	RemovedGrace time.Duration
	// WarmUp: a check that never ran makes its first attempt within this
	// long after it is configured (spread by a hash of its id), not up to
	// a whole interval later (default 1m; capped at the check's interval;
	// negative turns it off). Its later runs keep their regular slots.
	WarmUp time.Duration
	// CommitDelay is the group commit: the store commits at most once per
	// CommitDelay (default 100ms; negative: as fast as commits finish), so
	// that 200 probes a second cost ten fsyncs, not 200. An update that
	// carries an event or a lockout guard change is committed at once:
	// alerts are sent only after their event is durable, and the guard's
	// count must survive a crash.
	CommitDelay time.Duration
	// RecordRefresh: a check's record and detail (last attempt in full) are
	// written when its outcome, cause or state changes, and otherwise at
	// most this often (default 1h), so that the store is not rewritten at
	// every attempt of a fleet that does not change. History entries are
	// written at every attempt.
	RecordRefresh time.Duration
	// OnAttempt, if set, is called after every attempt (for metrics), with
	// the check's new state and the start lag. It must be fast.
	OnAttempt func(st CheckState, a probe.Attempt, lag time.Duration)
	// Cluster, if set, shares the work with other replicas: only the
	// checks of accounts this member owns run, are snapshotted and
	// published, and the lockout guard counts every member's failures.
	Cluster Cluster
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Store == nil {
		o.Store = NewMemStore()
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.MaxPerHost <= 0 {
		o.MaxPerHost = 8
	}
	if o.ConfirmDelay <= 0 {
		o.ConfirmDelay = 30 * time.Second
	}
	if o.GuardLimit <= 0 {
		o.GuardLimit = 3
	}
	if o.GuardWindow <= 0 {
		o.GuardWindow = time.Hour
	}
	if o.MaxThrottleBackoff <= 0 {
		o.MaxThrottleBackoff = time.Hour
	}
	if o.RemovedGrace <= 0 {
		o.RemovedGrace = 7 * 24 * time.Hour
	}
	if o.WarmUp == 0 {
		o.WarmUp = time.Minute
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = 100 * time.Millisecond
	}
	if o.RecordRefresh <= 0 {
		o.RecordRefresh = time.Hour
	}
	// The guard's memory of an account must outlive its window.
	o.RemovedGrace = max(o.RemovedGrace, o.GuardWindow)
}

// Scheduler runs checks. Create with New, give it checks with SetChecks
// (again on every reload), and Run it; the read methods are safe to call
// from any goroutine at any time.
type Scheduler struct {
	opt Options
	th  Thresholds
	log *slog.Logger

	// listp and byID are the configured checks for readers, replaced (never
	// modified) by SetChecks: Query, Range, Snapshot and Check read them and
	// each entry's published state without taking mu.
	listp atomic.Pointer[[]*entry]
	byID  atomic.Pointer[map[CheckID]*entry]

	mu       sync.Mutex
	checks   map[CheckID]*entry
	byTarget map[string][]*entry
	queue    entryHeap
	hosts    map[string]*hostState
	guards   map[string]*guard
	throttle map[string]time.Time // host|account -> until
	// records of checks not configured now: loaded at New and taken by
	// SetChecks, given back when a reload removes a check, pruned after
	// RemovedGrace.
	records   map[CheckID]Record
	lastPrune time.Time // persister goroutine only
	// interned shares the host and account strings of a reload's checks
	// (60,000 checks use a handful of hosts).
	interned map[string]string
	inflight int
	running  bool
	stats    counters
	lags     lagRing

	subMu sync.Mutex
	subs  map[chan Event]struct{}

	wake    chan struct{}
	persist chan Update
	// handovers are updates of checks given to another cluster member,
	// sent to the persister by Run after dispatch; adopted are the
	// handover events of checks taken over in a state that needs
	// attention, committed with their first attempt here (under mu; only
	// with a Cluster, so a single instance pays nothing per check).
	handovers []Update
	adopted   map[*entry]Event
	// unpublished counts updates sent to the persister and not yet
	// committed and published.
	unpublished atomic.Int64
	wg          sync.WaitGroup
}

type entry struct {
	spec    CheckSpec
	id      CheckID
	host    string
	account string
	m       MachineState
	rec     Record
	// due is when it runs next (heap key); regular the next slot of its
	// own interval; confirm marks the next run as a confirm re-probe.
	due      time.Time
	regular  time.Time
	confirm  bool
	running  bool
	removed  bool
	index    int // in queue; -1 when not queued
	lastDur  time.Duration
	guardHit bool
	// own is what the last dispatch found of this member owning the check
	// (only with a Cluster).
	own ownership
	// pub is the check's state as readers see it: immutable, replaced
	// whenever it changes (under mu).
	pub atomic.Pointer[CheckState]
	// last summarizes the latest attempt for pub.
	last *AttemptSummary
	// g is the account's lockout guard for Basic checks (nil otherwise).
	g *guard
	// written is what the store holds of this check: the hash of the
	// key of the outcome it last wrote (see writeKey.sum) and when (see
	// RecordRefresh).
	written   uint64
	writtenAt time.Time
}

// writeKey is what makes an attempt worth writing in full: its outcome,
// cause and the state machine (counters aside).
type writeKey struct {
	ok        bool
	cause     diagnose.Cause
	stage     probe.Stage
	kind      probe.ErrorKind
	status    Status
	mcause    diagnose.Cause
	conf      diagnose.Confidence
	since     time.Time
	candidate Candidate
	throttled time.Time
}

type hostState struct {
	inflight int
	waiting  []*entry
}

type guard struct {
	// failures is replaced, never modified in place: pub shares it with
	// readers.
	failures []time.Time
	pub      atomic.Pointer[[]time.Time]
	inflight int
	waiting  []*entry
}

// setFailures replaces the guard's failures and publishes them.
func (g *guard) setFailures(f []time.Time) {
	g.failures = f
	g.pub.Store(&f)
}

type counters struct {
	probes, confirms, panics, guardHolds, throttleHolds, dropped uint64
	notOwned                                                     uint64
}

// New makes a scheduler and loads the store's state.
func New(opt Options) (*Scheduler, error) {
	opt.defaults()
	if opt.Prober == nil {
		return nil, errors.New("scheduler: no prober")
	}
	recs, err := opt.Store.LoadRecords()
	if err != nil {
		return nil, fmt.Errorf("scheduler: load state: %w", err)
	}
	gs, err := opt.Store.LoadGuards()
	if err != nil {
		return nil, fmt.Errorf("scheduler: load lockout guard: %w", err)
	}
	s := &Scheduler{
		opt: opt,
		th: Thresholds{Failure: opt.FailureThreshold, Success: opt.SuccessThreshold,
			Confirm: !opt.NoConfirm}.withDefaults(),
		log:      opt.Logger,
		checks:   map[CheckID]*entry{},
		byTarget: map[string][]*entry{},
		hosts:    map[string]*hostState{},
		guards:   map[string]*guard{},
		throttle: map[string]time.Time{},
		records:  recs,
		interned: map[string]string{},
		subs:     map[chan Event]struct{}{},
		wake:     make(chan struct{}, 1),
		persist:  make(chan Update, 4096),
	}
	for acct, f := range gs {
		g := &guard{}
		g.setFailures(f)
		s.guards[acct] = g
	}
	for id, r := range recs {
		// Older stores kept the full attempt and finding in the record.
		if r.LastAttempt != nil {
			r.LastAttempt = Compact(r.LastAttempt)
		}
		r.LastFinding = nil
		recs[id] = r
	}
	s.listp.Store(&[]*entry{})
	s.byID.Store(&map[CheckID]*entry{})
	return s, nil
}

// warmUpRate bounds first probes per second during the warm-up.
const warmUpRate = 50

// phase spreads checks over their interval by a hash of their id, so that
// 60,000 checks never start together and a check keeps its slot across
// restarts.
func phase(id CheckID, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// firstSlot is the first time ≥ now in the check's phase.
func firstSlot(id CheckID, interval time.Duration, now time.Time) time.Time {
	t := now.Truncate(interval).Add(phase(id, interval))
	if t.Before(now) {
		t = t.Add(interval)
	}
	return t
}

// nextSlot advances prev by whole intervals past now: a probe that ran late
// does not shift the check's phase, and missed slots are skipped, not run
// in a burst.
func nextSlot(prev time.Time, interval time.Duration, now time.Time) time.Time {
	if !prev.After(now) {
		n := now.Sub(prev)/interval + 1
		prev = prev.Add(n * interval)
	}
	return prev
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return strings.ToLower(h) + ":" + addr[len(h)+1:]
	}
	return strings.ToLower(addr)
}

// SetChecks installs the configured checks; on a reload, checks that keep
// their id keep their state, a changed expectation starts the check afresh,
// removed checks stop (a running probe finishes but is not rescheduled).
func (s *Scheduler) SetChecks(specs []CheckSpec) error {
	seen := map[CheckID]bool{}
	for i := range specs {
		sp := &specs[i]
		if sp.Target == nil {
			return fmt.Errorf("scheduler: check %d has no target", i)
		}
		if sp.Interval <= 0 {
			return fmt.Errorf("scheduler: %s: interval must be positive", sp.ID())
		}
		if sp.Timeout <= 0 {
			sp.Timeout = probe.DefaultTimeout
		}
		if sp.Expect == "" {
			sp.Expect = ExpectOK
		}
		if seen[sp.ID()] {
			return fmt.Errorf("scheduler: duplicate check %s", sp.ID())
		}
		seen[sp.ID()] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Clock.Now()
	for id, e := range s.checks {
		if !seen[id] {
			e.removed = true
			if e.index >= 0 {
				heap.Remove(&s.queue, e.index)
			}
			s.dropWaiting(e)
			delete(s.adopted, e)
			delete(s.checks, id)
			// Kept so that putting the check back within RemovedGrace
			// resumes its state, as the store would after a restart.
			s.records[id] = e.rec
		}
	}
	// The warm-up stretches with the number of checks that never ran, so
	// that a fleet starting from nothing is not probed in one burst: at
	// most warmUpRate first probes a second (a check's interval still caps
	// it, as before the warm-up existed).
	fresh := 0
	for i := range specs {
		id := specs[i].ID()
		if rec, ok := s.records[id]; s.checks[id] == nil && (!ok || rec.LastRun.IsZero()) {
			fresh++
		}
	}
	warm := max(s.opt.WarmUp, time.Duration(fresh)*time.Second/warmUpRate)
	s.byTarget = map[string][]*entry{}
	for _, sp := range specs {
		id := sp.ID()
		e := s.checks[id]
		if e == nil {
			e = &entry{id: id, index: -1}
			if rec, ok := s.records[id]; ok {
				e.rec = rec
				e.m = rec.Machine
				delete(s.records, id)
			}
			if e.m.Expect != sp.Expect {
				e.m.Reset(sp.Expect)
			}
			e.regular = firstSlot(id, sp.Interval, now)
			e.due = e.regular
			if w := min(warm, sp.Interval); s.opt.WarmUp > 0 && w > 0 && e.rec.LastRun.IsZero() {
				// Never ran: a new check answers within the warm-up.
				if t := now.Add(phase(id, w)); t.Before(e.due) {
					e.due = t
				}
			}
			if e.m.Candidate != nil && !s.th.Confirm {
				// nothing special: the next observation counts
			} else if e.m.Candidate != nil {
				// A confirm re-probe was pending when we stopped.
				e.due, e.confirm = now.Add(s.opt.ConfirmDelay), true
			}
			if e.rec.ThrottledUntil.After(e.due) {
				e.due = e.rec.ThrottledUntil
			}
			s.checks[id] = e
		} else {
			if e.m.Expect != sp.Expect {
				e.m.Reset(sp.Expect)
			}
			if e.spec.Interval != sp.Interval {
				e.regular = firstSlot(id, sp.Interval, now)
				if !e.confirm {
					e.due = e.regular
				}
			}
		}
		e.spec = sp
		e.host = s.intern(hostOf(sp.Target.Addr(sp.Protocol)))
		e.account = s.intern(accountOf(sp.Target))
		e.g = nil
		if sp.Mechanism == probe.Basic {
			e.g = s.guard(e.account)
		}
		s.byTarget[sp.Target.Name] = append(s.byTarget[sp.Target.Name], e)
		if e.index >= 0 {
			heap.Fix(&s.queue, e.index)
		} else if !e.running && !s.isWaiting(e) {
			heap.Push(&s.queue, e)
		}
		s.publishState(e)
	}
	list := make([]*entry, 0, len(s.checks))
	byID := make(map[CheckID]*entry, len(s.checks))
	for id, e := range s.checks {
		list = append(list, e)
		byID[id] = e
	}
	slices.SortFunc(list, func(a, b *entry) int { return strings.Compare(string(a.id), string(b.id)) })
	s.listp.Store(&list)
	s.byID.Store(&byID)
	clear(s.interned)
	s.signal()
	return nil
}

func (s *Scheduler) intern(v string) string {
	if x, ok := s.interned[v]; ok {
		return x
	}
	s.interned[v] = v
	return v
}

func (s *Scheduler) isWaiting(e *entry) bool {
	if hs := s.hosts[e.host]; hs != nil && slices.Contains(hs.waiting, e) {
		return true
	}
	if g := s.guards[e.account]; g != nil && slices.Contains(g.waiting, e) {
		return true
	}
	return false
}

func (s *Scheduler) dropWaiting(e *entry) {
	if hs := s.hosts[e.host]; hs != nil {
		hs.waiting = slices.DeleteFunc(hs.waiting, func(x *entry) bool { return x == e })
	}
	if g := s.guards[e.account]; g != nil {
		g.waiting = slices.DeleteFunc(g.waiting, func(x *entry) bool { return x == e })
	}
}

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run schedules until ctx is done, then cancels in-flight probes, waits for
// every goroutine it started and flushes state to the store. It returns nil
// on a clean shutdown.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("scheduler: already running")
	}
	s.running = true
	s.mu.Unlock()

	probeCtx, cancelProbes := context.WithCancel(ctx)
	persistDone := make(chan struct{})
	go func() {
		defer close(persistDone)
		s.persister()
	}()

	for {
		wait := s.dispatch(probeCtx)
		s.sendHandovers()
		var tc <-chan time.Time
		var timer Timer
		if wait >= 0 {
			timer = s.opt.Clock.NewTimer(wait)
			tc = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-tc:
		case <-s.wake:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			break
		}
	}
	cancelProbes()
	s.wg.Wait()
	s.sendHandovers()
	close(s.persist)
	<-persistDone
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	return nil
}

// dispatch starts every due check it may and returns how long to sleep
// (-1: until woken).
func (s *Scheduler) dispatch(ctx context.Context) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Clock.Now()
	for s.queue.Len() > 0 {
		e := s.queue[0]
		if e.due.After(now) {
			return e.due.Sub(now)
		}
		if s.inflight >= s.opt.MaxInFlight {
			return -1 // a finishing probe wakes us
		}
		if s.persistBacklogged() {
			return -1 // the persister wakes us when it catches up
		}
		heap.Pop(&s.queue)
		if s.skipNotOwned(e, now) {
			continue
		}
		if until, ok := s.throttle[e.host+"|"+e.account]; ok {
			if until.After(now) {
				s.stats.throttleHolds++
				e.due = until
				heap.Push(&s.queue, e)
				s.publishState(e)
				continue
			}
			delete(s.throttle, e.host+"|"+e.account)
		}
		if e.spec.Mechanism == probe.Basic {
			g := s.guard(e.account)
			if until, busy := s.guardBlock(e.account, g, now); busy || !until.IsZero() {
				s.stats.guardHolds++
				e.guardHit = true
				if busy {
					g.waiting = append(g.waiting, e)
				} else {
					e.due = until
					heap.Push(&s.queue, e)
					s.publishState(e)
				}
				continue
			}
		}
		hs := s.hosts[e.host]
		if hs == nil {
			hs = &hostState{}
			s.hosts[e.host] = hs
		}
		if hs.inflight >= s.opt.MaxPerHost {
			hs.waiting = append(hs.waiting, e)
			continue
		}
		s.start(ctx, e, hs, now)
	}
	return -1
}

func (s *Scheduler) guard(acct string) *guard {
	g := s.guards[acct]
	if g == nil {
		g = &guard{}
		s.guards[acct] = g
	}
	return g
}

// guardBlock says whether a Basic attempt for the account must wait: until
// a failure leaves the window, or (busy) until an in-flight attempt ends —
// an in-flight attempt may fail too, so it counts against the limit.
func (s *Scheduler) guardBlock(acct string, g *guard, now time.Time) (until time.Time, busy bool) {
	cut := now.Add(-s.opt.GuardWindow)
	if len(g.failures) > 0 && !g.failures[0].After(cut) {
		// A new slice: readers may hold the old one.
		g.setFailures(slices.DeleteFunc(slices.Clone(g.failures), func(t time.Time) bool { return !t.After(cut) }))
	}
	fs := s.guardTimes(acct, g.failures, cut)
	n := len(fs)
	if n+g.inflight < s.opt.GuardLimit {
		return time.Time{}, false
	}
	if n >= s.opt.GuardLimit {
		// The (n-limit+1)th oldest failure must leave the window.
		return fs[n-s.opt.GuardLimit].Add(s.opt.GuardWindow), false
	}
	return time.Time{}, true
}

func (s *Scheduler) start(ctx context.Context, e *entry, hs *hostState, now time.Time) {
	e.running = true
	s.inflight++
	hs.inflight++
	if e.spec.Mechanism == probe.Basic {
		g := s.guard(e.account)
		g.inflight++
		s.publishGuard(e.account, g)
	}
	lag := max(now.Sub(e.due), 0)
	s.lags.add(lag)
	confirm := e.confirm
	spec := e.spec
	s.stats.probes++
	if confirm {
		s.stats.confirms++
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		a := s.safeProbe(pctx, probe.Check{Target: spec.Target, Protocol: spec.Protocol, Mechanism: spec.Mechanism})
		cancel()
		s.complete(ctx, e, a, confirm, now, lag)
	}()
}

// safeProbe keeps one target's fault from killing the daemon.
func (s *Scheduler) safeProbe(ctx context.Context, c probe.Check) (a probe.Attempt) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("probe panicked", "check", MakeID(c.Target.Name, c.Protocol, c.Mechanism),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			s.mu.Lock()
			s.stats.panics++
			s.mu.Unlock()
			a = probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol,
				Mechanism: c.Mechanism, Stage: probe.StageDNS, ErrorKind: probe.ErrProtocol,
				Error: fmt.Sprintf("internal error: probe panicked: %v", r)}
		}
	}()
	return s.opt.Prober.Probe(ctx, c)
}

var throttleRE = regexp.MustCompile(`(?i)Suggested Backoff Time:\s*(\d+)\s*milliseconds`)

// ThrottleBackoff parses Exchange's "Request is throttled. Suggested
// Backoff Time: N milliseconds" from an attempt.
func ThrottleBackoff(a *probe.Attempt) (time.Duration, bool) {
	for _, s := range []string{a.Reply, a.AuthReply} {
		if m := throttleRE.FindStringSubmatch(s); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			if err == nil && n >= 0 && n < 1<<40 {
				return time.Duration(n) * time.Millisecond, true
			}
		}
	}
	return 0, false
}

// notPasswordCauses are refusals whose cause says the password was never
// the problem: Basic or SMTP AUTH is switched off, a policy refuses legacy
// authentication or asks for MFA after the password was accepted, the
// protocol is off for the mailbox, the server is shedding load, or the
// mechanism is not one the server takes. Such refusals do not count against
// Entra smart lockout, so the guard lets them run at the check's interval.
var notPasswordCauses = map[diagnose.Cause]bool{
	diagnose.CauseBasicAuthDisabled:        true,
	diagnose.CauseBasicAuthRetired:         true,
	diagnose.CauseSMTPAuthDisabledTenant:   true,
	diagnose.CauseSMTPAuthDisabledMbx:      true,
	diagnose.CauseSecurityDefaults:         true,
	diagnose.CauseConditionalAccess:        true,
	diagnose.CauseMFARequired:              true,
	diagnose.CauseProtocolDisabled:         true,
	diagnose.CauseThrottled:                true,
	diagnose.CauseAuthMechanismUnsupported: true,
}

// lockoutFailure says whether a failed Basic attempt counts against the
// lockout guard. Exchange refuses a wrong password with generic words ("NO
// LOGIN failed.", "-ERR Logon failure: unknown user name or bad password.",
// "535 5.7.3 Authentication unsuccessful") that diagnosis often cannot
// tell from other refusals (cause unknown), so counting only
// bad_credentials and account_locked let a wrong password through at
// every interval. Instead every attempt that got to send its credentials
// (stage auth) and failed counts — also a timeout or a dropped connection
// there, since the server may have judged the password before the reply
// was lost — unless its cause is one of notPasswordCauses. Failures before
// the auth stage, and the probe's own refusal to send a password (no TLS,
// unreadable password file), never reached Entra and do not count.
//
// One exception to the exception: on SMTP, Exchange names a Basic block in
// so many words (535 5.7.139 "basic authentication is disabled", 550
// 5.7.30), so basic_auth_disabled that diagnosis only inferred (XOAUTH2
// works on the same mailbox) from the generic "535 5.7.3" may just as well
// be a wrong password, and counts. On IMAP and POP the generic words are
// what a Basic block looks like (Basic is retired there), and the
// inference stands.
func lockoutFailure(a *probe.Attempt, cause diagnose.Cause, conf diagnose.Confidence) bool {
	if a.OK || a.Stage != probe.StageAuth {
		return false
	}
	switch a.ErrorKind {
	case probe.ErrPolicy, probe.ErrConfig, probe.ErrSecret:
		return false
	}
	if cause == diagnose.CauseBasicAuthDisabled && a.Protocol == probe.SMTP && conf != diagnose.Definitive {
		return true
	}
	return !notPasswordCauses[cause]
}

func (s *Scheduler) complete(ctx context.Context, e *entry, a probe.Attempt, confirm bool, started time.Time, lag time.Duration) {
	// Classify outside the lock: it looks at the target's other checks'
	// latest attempts.
	s.mu.Lock()
	siblings := []probe.Attempt{a}
	for _, o := range s.byTarget[e.spec.Target.Name] {
		if o != e && o.rec.LastAttempt != nil {
			siblings = append(siblings, *o.rec.LastAttempt)
		}
	}
	s.mu.Unlock()
	finding := s.classify(siblings, &a)
	if finding != nil {
		// Remedies are rendered where they are shown, never kept per check.
		finding.Remedy = diagnose.Remedy{}
	}

	s.mu.Lock()
	now := s.opt.Clock.Now()
	e.running = false
	s.inflight--
	hs := s.hosts[e.host]
	hs.inflight--
	if len(hs.waiting) > 0 {
		w := hs.waiting[0]
		hs.waiting = hs.waiting[1:]
		heap.Push(&s.queue, w)
	}
	var g *guard
	if e.spec.Mechanism == probe.Basic {
		g = s.guard(e.account)
		g.inflight--
		for _, w := range g.waiting {
			heap.Push(&s.queue, w)
		}
		g.waiting = nil
	}
	shutdown := ctx.Err() != nil
	var upd *Update
	var st CheckState
	if !shutdown {
		upd = s.observe(e, a, finding, confirm, started, now, g)
		s.publishState(e)
		if s.opt.OnAttempt != nil {
			st = s.view(e, e.pub.Load(), now)
		}
		s.unpublished.Add(1)
	}
	if g != nil {
		// After observe: a failure and the end of the in-flight attempt
		// reach the other members in one record.
		s.publishGuard(e.account, g)
	}
	if !e.removed {
		heap.Push(&s.queue, e)
	} else if upd != nil && s.checks[e.id] == nil {
		// Removed while it ran: what is kept for it is its latest state.
		s.records[e.id] = e.rec
	}
	s.mu.Unlock()
	s.signal()
	if upd != nil {
		s.persist <- *upd
		if s.opt.OnAttempt != nil {
			s.opt.OnAttempt(st, a, lag)
		}
	}
}

func (s *Scheduler) classify(attempts []probe.Attempt, a *probe.Attempt) (f *diagnose.Finding) {
	if s.opt.Classifier == nil && s.opt.ClassifyAt == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("classifier panicked", "target", a.Target, "panic", fmt.Sprint(r))
			f = nil
		}
	}()
	if s.opt.ClassifyAt != nil {
		// attempts[0] is the new attempt.
		fd := s.opt.ClassifyAt(attempts, 0)
		return &fd
	}
	for _, fd := range s.opt.Classifier(attempts) {
		if fd.Protocol == string(a.Protocol) && fd.Mechanism == string(a.Mechanism) {
			return &fd
		}
	}
	return nil
}

// observe feeds the attempt to the check's state machine and reschedules
// it; the caller holds s.mu.
func (s *Scheduler) observe(e *entry, a probe.Attempt, f *diagnose.Finding, confirm bool, started, now time.Time, g *guard) *Update {
	cause, conf, weak := diagnose.CauseOK, diagnose.Definitive, false
	if f != nil {
		cause, conf = f.Cause, f.Confidence
		weak = diagnose.ProvesPosture(f.Cause) && !diagnose.PostureProof(*f)
	} else if !a.OK {
		cause, conf = diagnose.CauseUnknown, diagnose.Unsure
	}
	if a.OK {
		cause = diagnose.CauseOK
	}
	upd := &Update{ID: e.id}
	if ev, ok := s.adopted[e]; ok {
		// Before the attempt's own event: the alerts learn the incident
		// they continue before its recovery.
		upd.Events = append(upd.Events, ev)
		delete(s.adopted, e)
	}
	if g != nil && lockoutFailure(&a, cause, conf) {
		g.setFailures(append(slices.Clone(g.failures), now))
		upd.Guard = &GuardRecord{Account: e.account, Failures: g.failures}
	}
	if d, ok := ThrottleBackoff(&a); ok {
		d = min(d, s.opt.MaxThrottleBackoff)
		until := now.Add(d)
		k := e.host + "|" + e.account
		if until.After(s.throttle[k]) {
			s.throttle[k] = until
		}
		e.rec.ThrottledUntil = until
	}
	stp := e.m.observe(s.th, observation{OK: a.OK, Cause: cause, Confidence: conf, Weak: weak, Time: started, Confirm: confirm})
	e.rec.Machine = e.m
	e.rec.LastAttempt = Compact(&a)
	e.rec.LastFinding = nil
	e.rec.LastRun = started
	e.lastDur = a.Duration
	e.last = Summarize(&a)

	e.regular = nextSlot(e.regular, e.spec.Interval, now)
	e.due, e.confirm = e.regular, false
	if stp.NeedConfirm {
		// Confirmed by whichever comes first: the confirm delay or the
		// check's own next slot (a 1 s check is not left alone for 30 s).
		e.due, e.confirm = now.Add(s.opt.ConfirmDelay), true
		if e.regular.Before(e.due) {
			e.due = e.regular
		}
	}
	if e.rec.ThrottledUntil.After(e.due) {
		e.due = e.rec.ThrottledUntil
	}
	key := writeKey{ok: a.OK, cause: cause, stage: a.Stage, kind: a.ErrorKind, status: e.m.Status, mcause: e.m.Cause,
		conf: e.m.Confidence, since: e.m.Since, throttled: e.rec.ThrottledUntil}
	if c := e.m.Candidate; c != nil {
		key.candidate = *c
	}
	if sum := key.sum(); sum != e.written || e.writtenAt.IsZero() || now.Sub(e.writtenAt) >= s.opt.RecordRefresh {
		rec := e.rec
		upd.Record = &rec
		upd.Detail = &Detail{Attempt: &a, Finding: f}
		e.written, e.writtenAt = sum, now
	}
	reply := a.Reply
	if reply == "" {
		reply = a.AuthReply
	}
	upd.History = &HistoryEntry{Time: started, OK: a.OK, Cause: cause, Confidence: conf, Stage: a.Stage,
		Duration: a.Duration, Reply: truncate(reply, 300), Confirm: confirm}
	if stp.Kind != "" {
		ev := Event{
			ID: NewULID(now), Time: now, Kind: stp.Kind, CheckID: e.id,
			Target: e.spec.Target.Name, User: e.spec.Target.User, Labels: maps.Clone(e.spec.Labels),
			AuthPolicy: e.spec.AuthPolicy, Protocol: e.spec.Protocol, Mechanism: e.spec.Mechanism, Expect: e.m.Expect,
			Cause: e.m.Cause, PrevCause: e.m.PrevCause, Since: e.m.Since, Reply: reply, Finding: f,
		}
		upd.Events = append(upd.Events, ev)
		s.log.Info("check changed", "event", ev.Kind, "check", ev.CheckID, "cause", ev.Cause, "prev_cause", ev.PrevCause)
	}
	return upd
}

// truncate shortens a stored reply, keeping its error codes (an AADSTS
// code or enhanced status code past the cut is appended).
func truncate(s string, n int) string { return clip.Keep(s, n) }

// persister commits updates in batches (whatever queued up while the last
// commit ran) and hands events to sinks after their commit.
//
// Group commit: a batch is committed at most once per CommitDelay, so
// the updates of the delay's probes share one transaction and one fsync.
// An update with an event or a guard change closes the batch at once.
func (s *Scheduler) persister() {
	batch := make([]Update, 0, 1024)
	var last time.Time
	for u := range s.persist {
		batch = append(batch[:0], u)
		urgent := len(u.Events) > 0 || u.Guard != nil
		var timer *time.Timer
		var tc <-chan time.Time
		if wait := s.opt.CommitDelay - time.Since(last); !urgent && s.opt.CommitDelay > 0 && wait > 0 {
			timer = time.NewTimer(wait)
			tc = timer.C
		}
	drain:
		for len(batch) < cap(batch) {
			if urgent || tc == nil {
				select {
				case u, ok := <-s.persist:
					if !ok {
						break drain
					}
					batch = append(batch, u)
				default:
					break drain
				}
				continue
			}
			select {
			case u, ok := <-s.persist:
				if !ok {
					break drain
				}
				batch = append(batch, u)
				urgent = len(u.Events) > 0 || u.Guard != nil
			case <-tc:
				tc = nil
			}
		}
		if timer != nil {
			timer.Stop()
		}
		last = time.Now()
		if err := s.opt.Store.Commit(batch); err != nil {
			// State stays in memory; the next commit of each check writes
			// its whole record again. Events of this batch are still
			// delivered: better once unsaved than never.
			s.log.Error("store: commit failed", "updates", len(batch), "err", err)
		}
		for _, u := range batch {
			for _, ev := range u.Events {
				s.publish(ev)
			}
		}
		// Before the batch counts as done, so that tests waiting for the
		// scheduler to be idle also wait for the prune.
		if now := s.opt.Clock.Now(); s.lastPrune.IsZero() || now.Sub(s.lastPrune) >= pruneEvery {
			s.lastPrune = now
			s.prune(now)
		}
		s.unpublished.Add(-int64(len(batch)))
		s.signal() // dispatch may be holding for the backlog
	}
}

// pruneEvery is how often removed checks are looked for.
const pruneEvery = time.Hour

// prune forgets checks that have not been configured for RemovedGrace: in
// memory here, in the store if it is a Pruner. A check's last run marks
// when it was last configured (it runs at least every interval while it
// is), so no removal time needs to be stored.
func (s *Scheduler) prune(now time.Time) {
	cut := now.Add(-s.opt.RemovedGrace)
	s.mu.Lock()
	keep := make(map[CheckID]bool, len(s.checks))
	for id := range s.checks {
		keep[id] = true
	}
	for id, r := range s.records {
		if r.LastRun.Before(cut) {
			delete(s.records, id)
		}
	}
	s.mu.Unlock()
	p, ok := s.opt.Store.(Pruner)
	if !ok {
		return
	}
	n, err := p.Prune(keep, cut)
	if err != nil {
		s.log.Error("store: pruning removed checks failed", "err", err)
		return
	}
	if n > 0 {
		s.log.Info("forgot checks no longer configured", "checks", n, "not_configured_since_before", cut)
	}
}

func (s *Scheduler) publish(ev Event) {
	for _, k := range s.opt.Sinks {
		k.Emit(ev)
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			s.mu.Lock()
			s.stats.dropped++
			s.mu.Unlock()
		}
	}
}

// Subscribe returns a channel of events stored from now on, closed when
// ctx is done. It is buffered (256) and best effort: a subscriber that
// falls behind loses events (counted in Stats.DroppedEvents). Durable
// consumers (the alerts outbox) use an EventSink or the store's hook.
func (s *Scheduler) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, 256)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	context.AfterFunc(ctx, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
		close(ch)
	})
	return ch
}

// publishState publishes the check's state for readers; the caller holds
// s.mu. The dynamic parts (throttling and lockout guard, which depend on
// the time of reading) are added by view.
func (s *Scheduler) publishState(e *entry) {
	t := e.spec.Target
	st := &CheckState{
		ID: e.id, Target: t.Name, User: t.User, Labels: e.spec.Labels, AuthPolicy: e.spec.AuthPolicy,
		Protocol: e.spec.Protocol, Mechanism: e.spec.Mechanism, Expect: e.m.Expect,
		Status: e.m.Status, Cause: e.m.Cause, PrevCause: e.m.PrevCause, Confidence: e.m.Confidence,
		Since: e.m.Since, ConsecutiveFailures: e.m.ConsecutiveFailures,
		ConsecutiveSuccesses: e.m.ConsecutiveSuccesses, LastRun: e.rec.LastRun, NextRun: e.due,
		Interval: e.spec.Interval, Timeout: e.spec.Timeout, Last: e.last, ThrottledUntil: e.rec.ThrottledUntil,
	}
	if st.Status == "" {
		st.Status = StatusPending
	}
	if e.m.Candidate != nil {
		st.Pending = e.m.Candidate.Cause
	}
	e.pub.Store(st)
}

// Summarize keeps what lists and metrics show of an attempt.
func Summarize(a *probe.Attempt) *AttemptSummary {
	sum := &AttemptSummary{Start: a.Start, OK: a.OK, Stage: a.Stage, Duration: a.Duration, Error: a.ErrorKind,
		Timings: slices.Clip(slices.Clone(a.Timings))}
	if !a.OK {
		switch {
		case a.Reply != "":
			sum.Words = a.Reply
		case a.AuthReply != "":
			sum.Words = a.AuthReply
		case a.Token != nil && a.Token.Description != "":
			sum.Words = a.Token.Description
		default:
			sum.Words = a.Error
		}
		sum.Words = truncate(sum.Words, 300)
	}
	if a.Token != nil {
		sum.TokenExpiry, sum.AppID, sum.Tenant = a.Token.ExpiresAt, a.Token.AppID, a.Token.TenantID
	}
	return sum
}

// view completes a published state with what depends on the time of
// reading. It takes no lock.
func (s *Scheduler) view(e *entry, pub *CheckState, now time.Time) CheckState {
	st := *pub
	if !st.ThrottledUntil.After(now) {
		st.ThrottledUntil = time.Time{}
	}
	if e.g == nil {
		return st
	}
	var own []time.Time
	if fp := e.g.pub.Load(); fp != nil {
		own = *fp
	}
	cut := now.Add(-s.opt.GuardWindow)
	var fs []time.Time
	// In a cluster the guard counts every member's failures.
	for _, f := range s.guardTimes(e.account, own, cut) {
		if f.After(cut) {
			fs = append(fs, f)
		}
	}
	if len(fs) > 0 {
		gs := &GuardState{Account: e.account, Failures: fs, Limit: s.opt.GuardLimit, Window: s.opt.GuardWindow}
		if len(fs) >= s.opt.GuardLimit {
			gs.Active = true
			gs.Until = fs[len(fs)-s.opt.GuardLimit].Add(s.opt.GuardWindow)
		}
		st.LockoutGuard = gs
	}
	return st
}

func (s *Scheduler) list() []*entry { return *s.listp.Load() }

// Snapshot returns every check's state, sorted by id, without taking the
// scheduler's lock (in a cluster: every check this member owns; the
// others' states here are stale). It copies the whole fleet: prefer Query
// or Range.
func (s *Scheduler) Snapshot() []CheckState {
	now := s.opt.Clock.Now()
	list := s.list()
	out := make([]CheckState, 0, len(list))
	for _, e := range list {
		if s.owns(e) {
			out = append(out, s.view(e, e.pub.Load(), now))
		}
	}
	return out
}

// Check returns one check's state in O(1), with its latest attempt and
// finding loaded from the store (when the store keeps details); in a
// cluster, a check another member owns comes with status elsewhere and its
// owner.
func (s *Scheduler) Check(id CheckID) (CheckState, bool) {
	e := (*s.byID.Load())[id]
	if e == nil {
		return CheckState{}, false
	}
	pub := e.pub.Load()
	var rs CheckState
	if s.elsewhere(e, pub, &rs) {
		return s.remoteView(e, rs), true
	}
	st := s.view(e, pub, s.opt.Clock.Now())
	if ds, ok := s.opt.Store.(DetailStore); ok {
		d, found, err := ds.Detail(id)
		if err != nil {
			s.log.Error("store: loading a check's last attempt", "check", id, "err", err)
		} else if found {
			st.LastAttempt, st.LastFinding = d.Attempt, d.Finding
		}
	}
	return st, true
}

// Events returns up to limit stored events, newest first.
func (s *Scheduler) Events(limit int) ([]Event, error) { return s.opt.Store.Events(limit) }

// History returns up to limit attempts of a check, newest first.
func (s *Scheduler) History(id CheckID, limit int) ([]HistoryEntry, error) {
	return s.opt.Store.History(id, limit)
}

// idle reports whether nothing is due, running, waiting or unpublished:
// tests use it to know a fake-clock step has been fully processed.
func (s *Scheduler) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight > 0 || s.unpublished.Load() > 0 {
		return false
	}
	if s.queue.Len() > 0 && !s.queue[0].due.After(s.opt.Clock.Now()) {
		return false
	}
	for _, h := range s.hosts {
		if len(h.waiting) > 0 {
			return false
		}
	}
	for _, g := range s.guards {
		if len(g.waiting) > 0 {
			return false
		}
	}
	return true
}

// Stats are the scheduler's self-metrics.
type Stats struct {
	Checks    int `json:"checks"`
	InFlight  int `json:"in_flight"`
	Queued    int `json:"queued"`
	HostWait  int `json:"host_waiting"`
	GuardWait int `json:"guard_waiting"`
	// Counters since start.
	Probes        uint64 `json:"probes"`
	Confirms      uint64 `json:"confirms"`
	Panics        uint64 `json:"panics"`
	GuardHolds    uint64 `json:"guard_holds"`
	ThrottleHolds uint64 `json:"throttle_holds"`
	DroppedEvents uint64 `json:"dropped_events"`
	// NotOwned counts due runs skipped because another cluster member
	// owns the check.
	NotOwned uint64 `json:"not_owned,omitempty"`
	// Start lag (actual start − planned start) over the last 8192 probes.
	LagP50, LagP99, LagMax time.Duration
}

// Stats returns the current figures.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Checks: len(s.checks), InFlight: s.inflight, Queued: s.queue.Len(),
		Probes: s.stats.probes, Confirms: s.stats.confirms, Panics: s.stats.panics,
		GuardHolds: s.stats.guardHolds, ThrottleHolds: s.stats.throttleHolds, DroppedEvents: s.stats.dropped,
		NotOwned: s.stats.notOwned}
	for _, h := range s.hosts {
		st.HostWait += len(h.waiting)
	}
	for _, g := range s.guards {
		st.GuardWait += len(g.waiting)
	}
	st.LagP50, st.LagP99, st.LagMax = s.lags.quantiles()
	return st
}

type lagRing struct {
	buf  [8192]time.Duration
	n, i int
}

func (r *lagRing) add(d time.Duration) {
	r.buf[r.i] = d
	r.i = (r.i + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

func (r *lagRing) quantiles() (p50, p99, maxLag time.Duration) {
	if r.n == 0 {
		return
	}
	s := slices.Clone(r.buf[:r.n])
	slices.Sort(s)
	return s[r.n/2], s[min(r.n-1, r.n*99/100)], s[r.n-1]
}

// entryHeap orders checks by due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}

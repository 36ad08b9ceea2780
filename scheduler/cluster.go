package scheduler

import (
	"container/heap"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// Cluster is what a scheduler that shares the work with other replicas
// consults (package cluster implements it over memberlist). With no Cluster
// the scheduler runs every configured check, as a single instance does.
//
// Ownership is by account, not by check: all checks of one mailbox run on
// one member, so the lockout guard of that mailbox has one owner and the
// classifier sees a target's sibling attempts together.
type Cluster interface {
	// Owns says whether this member runs the account's checks now. It is
	// asked before every attempt (a check not owned keeps its slot and is
	// asked again at the next one) and by Snapshot, so it must be fast.
	Owns(account string) bool
	// GuardOthers returns what the other members count against the
	// account after since: their failed Basic logins, and their Basic
	// attempts in flight (which may fail too, so count as failures).
	GuardOthers(account string, since time.Time) []time.Time
	// GuardPublish shares this member's own lockout record of the
	// account: its failures inside the window and how many Basic attempts
	// it has in flight. Called under the scheduler's lock: it must not
	// call back into the scheduler.
	GuardPublish(account string, failures []time.Time, inflight int)
	// Announced returns the latest event the cluster announced for a
	// check (from any member), so that a check taken over from another
	// member continues that member's state instead of announcing its
	// incident again.
	Announced(id CheckID) (Event, bool)
	// OwnerOf names the member that owns the account and the URL of its
	// status page ("" when unknown), for readers of checks run elsewhere.
	OwnerOf(account string) (name, webURL string)
	// GuardCleared returns when the account's guard was last cleared on
	// any member (zero: not within the window): failures up to it, this
	// member's own included, no longer count.
	GuardCleared(account string) time.Time
	// GuardClear forgets, on every member, the failures and in-flight
	// attempts counted against the account up to now (an operator fixed
	// its password). Called under the scheduler's lock.
	GuardClear(account string)
	// Ready reports whether the membership settled. Before, Owns is false
	// for every account, and no check is taken over or given away.
	Ready() bool
}

// Handover marks an event that records a change of a check's owner, so
// that the alerts follow the check from member to member without telling
// anyone about an incident again.
type Handover string

const (
	// HandoverAdopted: this member took the check over in a state that
	// needs attention (failing, unexpectedly ok, unverified), which the
	// cluster already announced. The alerts add it to its incident as
	// already notified, and tell its recovery when it comes.
	HandoverAdopted Handover = "adopted"
	// HandoverReleased: another member took the check over. The alerts
	// forget it without a word: no "resolved", no reminders.
	HandoverReleased Handover = "released"
)

// ownership is what a member last found of owning a check.
type ownership uint8

const (
	ownUnknown ownership = iota // not decided since start
	ownYes
	ownNo
)

// needsAttention: the statuses the alerts keep an incident open for.
func needsAttention(st Status) (EventKind, bool) {
	switch st {
	case StatusFailing:
		return EventRegressed, true
	case StatusUnexpectedlyOK:
		return EventUnexpectedlyOK, true
	case StatusUnverified:
		return EventPostureUnverified, true
	}
	return "", false
}

// handoverEvent records a change of owner of e in its current state; the
// caller holds s.mu. ok is false when the state needs no incident.
func (s *Scheduler) handoverEvent(e *entry, h Handover, now time.Time) (Event, bool) {
	kind, ok := needsAttention(e.m.Status)
	if !ok {
		return Event{}, false
	}
	return Event{ID: NewULID(now), Time: now, Kind: kind, CheckID: e.id, Target: e.spec.Target.Name,
		User: e.spec.Target.User, Labels: maps.Clone(e.spec.Labels), AuthPolicy: e.spec.AuthPolicy,
		Protocol: e.spec.Protocol, Mechanism: e.spec.Mechanism, Expect: e.m.Expect, Cause: e.m.Cause,
		PrevCause: e.m.PrevCause, Since: e.m.Since, Handover: h}, true
}

// sendHandovers hands the release events dispatch queued to the persister,
// outside the lock.
func (s *Scheduler) sendHandovers() {
	if s.opt.Cluster == nil {
		return // a single instance hands nothing over
	}
	s.mu.Lock()
	hs := s.handovers
	s.handovers = nil
	s.mu.Unlock()
	for _, u := range hs {
		s.persist <- u
	}
}

// ErrNotOwned is returned for an action on a check another cluster member
// runs.
var ErrNotOwned = errors.New("scheduler: check is run by another cluster member")

// AccountOf is the account a target's checks are owned and guarded by: the
// login user (case-insensitive, as Entra treats it), else the target name.
func AccountOf(t *probe.Target) string { return accountOf(t) }

func accountOf(t *probe.Target) string {
	if t.User != "" {
		return strings.ToLower(t.User)
	}
	return strings.ToLower(t.Name)
}

// owns says whether this member runs e. It takes no scheduler lock
// (readers call it); the Cluster answers from its own state.
func (s *Scheduler) owns(e *entry) bool {
	return s.opt.Cluster == nil || s.opt.Cluster.Owns(e.account)
}

// elsewhere is what a member that does not own e shows of it: the
// configured check, no state (the owner has it; this member's copy is
// stale or empty). ok is false when this member owns e. The owner is
// filled by remoteView, for the states that are returned.
func (s *Scheduler) elsewhere(e *entry, pub *CheckState, out *CheckState) bool {
	if s.owns(e) {
		return false
	}
	*out = CheckState{ID: pub.ID, Target: pub.Target, User: pub.User, Labels: pub.Labels, AuthPolicy: pub.AuthPolicy,
		Protocol: pub.Protocol, Mechanism: pub.Mechanism, Expect: pub.Expect, Status: StatusElsewhere,
		Interval: pub.Interval, Timeout: pub.Timeout}
	return true
}

// remoteView completes a state from elsewhere with its owner and the state
// the cluster last announced for it.
func (s *Scheduler) remoteView(e *entry, st CheckState) CheckState {
	r := &Remote{}
	r.Owner, r.OwnerURL = s.opt.Cluster.OwnerOf(e.account)
	if ev, ok := s.opt.Cluster.Announced(e.id); ok && ev.Expect == st.Expect {
		if as, ok := announcedStatus(ev.Kind); ok {
			r.AnnouncedStatus, r.AnnouncedCause, r.AnnouncedSince = as, ev.Cause, ev.Since
		}
	}
	st.Remote = r
	return st
}

// announcedStatus is the status an announced event leaves a check in.
func announcedStatus(k EventKind) (Status, bool) {
	switch k {
	case EventRegressed, EventCauseChanged:
		return StatusFailing, true
	case EventRecovered:
		return StatusOK, true
	case EventUnexpectedlyOK:
		return StatusUnexpectedlyOK, true
	case EventPostureUnverified:
		return StatusUnverified, true
	}
	return "", false
}

// skipNotOwned moves a due check that another member owns to its next
// slot and reports true; the caller holds s.mu. When a check comes (back)
// to this member, it first takes over the cluster's announced state.
func (s *Scheduler) skipNotOwned(e *entry, now time.Time) bool {
	if s.opt.Cluster == nil {
		return false
	}
	if !s.opt.Cluster.Owns(e.account) {
		if e.own != ownNo && s.opt.Cluster.Ready() {
			// Given away (or, at start, found owned elsewhere): the
			// alerts of this member forget its incident.
			if e.own == ownYes {
				s.log.Debug("check moved to another member", "check", e.id)
			}
			e.own = ownNo
			delete(s.adopted, e)
			if ev, ok := s.handoverEvent(e, HandoverReleased, now); ok {
				s.unpublished.Add(1)
				s.handovers = append(s.handovers, Update{ID: e.id, Events: []Event{ev}})
			}
		}
		s.stats.notOwned++
		e.regular = nextSlot(e.regular, e.spec.Interval, now)
		e.due, e.confirm = e.regular, false
		heap.Push(&s.queue, e)
		return true
	}
	if e.own != ownYes {
		e.own = ownYes
		s.takeOver(e)
		if ev, ok := s.handoverEvent(e, HandoverAdopted, now); ok {
			if ann, found := s.opt.Cluster.Announced(e.id); found && ann.Cause == e.m.Cause {
				// When the cluster announced it: the alerts judge from
				// it whether its previous owner had time to notify it.
				ev.Time = ann.Time
			}
			if s.adopted == nil {
				s.adopted = map[*entry]Event{}
			}
			s.adopted[e] = ev
		}
	}
	return false
}

// takeOver adopts the cluster's announced state of a check when it is newer
// than what this member knows (the check ran elsewhere since): the state
// machine then continues where the previous owner left it, so the same
// incident is not announced twice and a recovery is announced once.
func (s *Scheduler) takeOver(e *entry) {
	ev, ok := s.opt.Cluster.Announced(e.id)
	if !ok || ev.Expect != e.m.Expect || !ev.Time.After(e.rec.LastRun) {
		return
	}
	st, ok := announcedStatus(ev.Kind)
	if !ok {
		return
	}
	e.m = MachineState{Expect: e.m.Expect, Status: st, Cause: ev.Cause, PrevCause: ev.PrevCause, Since: ev.Since}
	if ev.Finding != nil {
		e.m.Confidence = ev.Finding.Confidence
	}
	e.rec.Machine = e.m
	s.publishState(e)
	s.log.Info("took over check with the cluster's announced state", "check", e.id, "status", st, "cause", ev.Cause)
}

// guardTimes is the account's failures inside the window as the guard
// counts them: this member's own and, in a cluster, the other members'.
func (s *Scheduler) guardTimes(acct string, own []time.Time, cut time.Time) []time.Time {
	if s.opt.Cluster == nil {
		return own
	}
	if c := s.opt.Cluster.GuardCleared(acct); c.After(cut) {
		// Cleared on another member: this member's own failures up to
		// then no longer count either.
		cut = c
		own = slices.DeleteFunc(slices.Clone(own), func(t time.Time) bool { return !t.After(c) })
	}
	others := s.opt.Cluster.GuardOthers(acct, cut)
	if len(others) == 0 {
		return own
	}
	all := append(slices.Clone(own), others...)
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	// A member's own failures come back from the cluster after it
	// restarts (it gossiped them in its previous run): count each once.
	return slices.CompactFunc(all, func(a, b time.Time) bool { return a.Equal(b) })
}

// publishGuard shares this member's record of the account; the caller
// holds s.mu.
func (s *Scheduler) publishGuard(acct string, g *guard) {
	if s.opt.Cluster != nil {
		s.opt.Cluster.GuardPublish(acct, slices.Clone(g.failures), g.inflight)
	}
}

// Placement is one configured check and the account that decides its owner.
type Placement struct {
	ID      CheckID `json:"id"`
	Account string  `json:"account"`
}

// Placements lists every configured check, owned here or not, sorted by id:
// what a cluster's ownership table is built from.
func (s *Scheduler) Placements() []Placement {
	s.mu.Lock()
	out := make([]Placement, 0, len(s.checks))
	for id, e := range s.checks {
		out = append(out, Placement{ID: id, Account: e.account})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Placement) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

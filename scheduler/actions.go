package scheduler

import (
	"container/heap"
	"errors"
)

// Operator actions from the status page and the API. Neither bypasses a
// protection: a probe asked for now still waits for the lockout guard, the
// throttling backoff and the concurrency limits.

// ErrNoSuchCheck is returned for an id that is not configured.
var ErrNoSuchCheck = errors.New("scheduler: no such check")

// ProbeNow moves a check's next attempt to now. It returns false when the
// check is already running or waiting for a slot (it will run without
// being asked).
func (s *Scheduler) ProbeNow(id CheckID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.checks[id]
	if e == nil {
		return false, ErrNoSuchCheck
	}
	if !s.owns(e) {
		// Its owner runs it: a probe from here would log in beside it
		// and outside its lockout guard.
		return false, ErrNotOwned
	}
	if e.running || e.index < 0 {
		return false, nil
	}
	e.due = s.opt.Clock.Now()
	heap.Fix(&s.queue, e.index)
	s.publishState(e) // its next run, for readers
	s.signal()
	return true, nil
}

// ClearGuard forgets the failed Basic logins the lockout guard counted for
// an account (after its password was fixed) and lets its held checks run
// now. It returns the number of failures forgotten; 0 when the guard held
// nothing for the account. The cleared state is persisted, so a restart
// does not bring the failures back.
//
// In a cluster it is cluster-wide: the failures every member counted for the
// account are forgotten on all of them (any member may receive the request;
// the count includes the others').
func (s *Scheduler) ClearGuard(account string) (int, error) {
	s.mu.Lock()
	g := s.guards[account]
	n := 0
	now := s.opt.Clock.Now()
	if s.opt.Cluster != nil {
		n += len(s.opt.Cluster.GuardOthers(account, now.Add(-s.opt.GuardWindow)))
		s.opt.Cluster.GuardClear(account)
	}
	own := g != nil && len(g.failures) > 0
	if !own && n == 0 {
		s.mu.Unlock()
		return 0, nil
	}
	if own {
		n += len(g.failures)
		g.setFailures(nil)
	}
	var any *entry
	for _, e := range s.checks {
		if e.account != account {
			continue
		}
		if any == nil {
			any = e
		}
		if e.guardHit && e.index >= 0 && e.due.After(now) {
			e.due = now
			heap.Fix(&s.queue, e.index)
			s.publishState(e)
		}
		e.guardHit = false
	}
	var upd *Update
	if any != nil && own {
		upd = &Update{ID: any.id, Guard: &GuardRecord{Account: account, Failures: nil}}
	}
	s.mu.Unlock()
	s.signal()
	// Written directly, not through the persister: an action may come
	// while Run is stopping and its channel closing.
	if upd != nil {
		if err := s.opt.Store.Commit([]Update{*upd}); err != nil {
			return n, err
		}
	}
	return n, nil
}

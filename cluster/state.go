package cluster

import (
	"encoding/json"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// guardRows are the guard records by account, then member: each member
// writes only its own row per account, so rows never conflict and merging
// is "newest version of each row wins". By account first, so that the
// scheduler's question about one account reads that account's rows only.
type guardRows map[string]map[string]guardRow

func (g guardRows) get(account, node string) guardRow { return g[account][node] }

func (g guardRows) put(r guardRow) {
	m := g[r.Account]
	if m == nil {
		m = map[string]guardRow{}
		g[r.Account] = m
	}
	m[r.Node] = r
}

// guardRow is one member's lockout record of one account.
type guardRow struct {
	Account string `json:"acct"`
	Node    string `json:"node"`
	// Ver orders a member's rows: UnixNano, increasing within and across
	// its restarts.
	Ver      int64       `json:"ver"`
	Failures []time.Time `json:"f,omitempty"`
	// InFlight Basic attempts at At: they may fail, so count as failures
	// (at At) until the member says otherwise.
	InFlight int       `json:"n,omitempty"`
	At       time.Time `json:"at"`
	// Cleared: an operator cleared the account's guard at this time on
	// this member; every member ignores failures and in-flight attempts
	// of any member up to it.
	Cleared time.Time `json:"c,omitzero"`
}

// announcement is the latest event committed for a check, by any member.
type announcement struct {
	ID         scheduler.CheckID     `json:"id"`
	Kind       scheduler.EventKind   `json:"kind"`
	Expect     scheduler.Expectation `json:"expect"`
	Cause      diagnose.Cause        `json:"cause"`
	PrevCause  diagnose.Cause        `json:"prev,omitempty"`
	Confidence diagnose.Confidence   `json:"conf,omitempty"`
	Since      time.Time             `json:"since"`
	Time       time.Time             `json:"t"`
	Node       string                `json:"node"`
}

func (a announcement) newer(b announcement) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return a.Node > b.Node
}

// message is one gossiped update; fullState is the push-pull exchange.
type message struct {
	Guard    *guardRow     `json:"g,omitempty"`
	Announce *announcement `json:"a,omitempty"`
}

type fullState struct {
	Guards    []guardRow     `json:"g"`
	Announced []announcement `json:"a"`
}

type nodeMeta struct {
	WebURL string `json:"web,omitempty"`
}

// GuardOthers returns the other members' failed Basic logins and in-flight
// Basic attempts for the account after since. Rows this member wrote in an
// earlier run count too (its own store may have been lost); the scheduler
// drops times it already holds itself.
func (p *Peer) GuardOthers(account string, since time.Time) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	rows := p.guards[account]
	since = maxTime(since, clearedOf(rows))
	var out []time.Time
	for _, r := range rows {
		if r.Node == p.name && r.Ver >= p.started {
			continue
		}
		for _, f := range r.Failures {
			if f.After(since) {
				out = append(out, f)
			}
		}
		if r.At.After(since) {
			for range r.InFlight {
				out = append(out, r.At)
			}
		}
	}
	return out
}

// GuardPublish records and gossips this member's record of the account.
func (p *Peer) GuardPublish(account string, failures []time.Time, inflight int) {
	now := time.Now()
	p.mu.Lock()
	p.ver = max(p.ver+1, now.UnixNano())
	r := guardRow{Account: account, Node: p.name, Ver: p.ver, Failures: failures, InFlight: inflight, At: now,
		Cleared: p.guards.get(account, p.name).Cleared}
	p.guards.put(r)
	p.mu.Unlock()
	p.broadcast(message{Guard: &r})
}

// GuardClear records and gossips that the account's guard was cleared now:
// every member then ignores the failures counted up to now, its own
// included (the scheduler forgets those it holds itself).
func (p *Peer) GuardClear(account string) {
	now := time.Now()
	p.mu.Lock()
	p.ver = max(p.ver+1, now.UnixNano())
	old := p.guards.get(account, p.name)
	r := guardRow{Account: account, Node: p.name, Ver: p.ver, InFlight: old.InFlight, At: old.At, Cleared: now}
	for _, f := range old.Failures {
		if f.After(now) {
			r.Failures = append(r.Failures, f)
		}
	}
	p.guards.put(r)
	p.mu.Unlock()
	p.broadcast(message{Guard: &r})
}

// GuardCleared returns when the account's guard was last cleared, on any
// member (zero: never, or longer ago than the window).
func (p *Peer) GuardCleared(account string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return clearedOf(p.guards[account])
}

func clearedOf(rows map[string]guardRow) time.Time {
	var c time.Time
	for _, r := range rows {
		c = maxTime(c, r.Cleared)
	}
	return c
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Emit records a committed event as the check's announced state and
// gossips it (scheduler.EventSink).
func (p *Peer) Emit(ev scheduler.Event) {
	if ev.Handover != "" {
		// A change of owner, not of state: the state announced stays.
		return
	}
	a := announcement{ID: ev.CheckID, Kind: ev.Kind, Expect: ev.Expect, Cause: ev.Cause, PrevCause: ev.PrevCause,
		Since: ev.Since, Time: ev.Time, Node: p.name}
	if ev.Finding != nil {
		a.Confidence = ev.Finding.Confidence
	}
	p.mu.Lock()
	if old, ok := p.announced[a.ID]; !ok || a.newer(old) {
		p.announced[a.ID] = a
	}
	p.mu.Unlock()
	p.broadcast(message{Announce: &a})
}

// Announced returns the cluster's latest announced event of a check.
func (p *Peer) Announced(id scheduler.CheckID) (scheduler.Event, bool) {
	p.mu.Lock()
	a, ok := p.announced[id]
	p.mu.Unlock()
	if !ok {
		return scheduler.Event{}, false
	}
	ev := scheduler.Event{CheckID: a.ID, Kind: a.Kind, Expect: a.Expect, Cause: a.Cause, PrevCause: a.PrevCause,
		Since: a.Since, Time: a.Time}
	if a.Confidence != "" {
		ev.Finding = &diagnose.Finding{Cause: a.Cause, Confidence: a.Confidence}
	}
	return ev, true
}

func (p *Peer) broadcast(m message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	p.queue.QueueBroadcast(simpleBroadcast(b))
}

// merge applies one row or announcement; the caller holds p.mu.
func (p *Peer) mergeGuard(r guardRow) {
	if old, ok := p.guards[r.Account][r.Node]; !ok || r.Ver > old.Ver {
		p.guards.put(r)
	}
}

func (p *Peer) mergeAnnounce(a announcement) {
	if old, ok := p.announced[a.ID]; !ok || a.newer(old) {
		p.announced[a.ID] = a
	}
}

// expire forgets guard rows with nothing inside the window and old
// announcements of checks that meet their expectation.
func (p *Peer) expire(now time.Time) {
	cut := now.Add(-p.cfg.GuardWindow)
	p.mu.Lock()
	defer p.mu.Unlock()
	for acct, rows := range p.guards {
		for node, r := range rows {
			// A clear is kept while failures it hides may still be in
			// the window on some member.
			live := (r.InFlight > 0 && r.At.After(cut)) || r.Cleared.After(cut)
			for _, f := range r.Failures {
				live = live || f.After(cut)
			}
			if !live {
				delete(rows, node)
			}
		}
		if len(rows) == 0 {
			delete(p.guards, acct)
		}
	}
	acut := now.Add(-p.cfg.AnnouncedTTL)
	for id, a := range p.announced {
		if a.Kind == scheduler.EventRecovered && a.Time.Before(acut) {
			delete(p.announced, id)
		}
	}
}

type simpleBroadcast []byte

func (b simpleBroadcast) Message() []byte                       { return b }
func (b simpleBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b simpleBroadcast) Finished()                             {}

// delegate is memberlist's view of the Peer.
type delegate Peer

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(nodeMeta{WebURL: d.cfg.WebURL})
	if len(b) > limit {
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg(b []byte) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		d.log.Debug("cluster: bad gossip message", "err", err)
		return
	}
	p := (*Peer)(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.Guard != nil {
		p.received.WithLabelValues("guard").Inc()
		p.mergeGuard(*m.Guard)
	}
	if m.Announce != nil {
		p.received.WithLabelValues("announce").Inc()
		p.mergeAnnounce(*m.Announce)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	p := (*Peer)(d)
	p.mu.Lock()
	var st fullState
	for _, rows := range p.guards {
		for _, r := range rows {
			st.Guards = append(st.Guards, r)
		}
	}
	for _, a := range p.announced {
		st.Announced = append(st.Announced, a)
	}
	p.mu.Unlock()
	b, _ := json.Marshal(st)
	return b
}

func (d *delegate) MergeRemoteState(b []byte, join bool) {
	var st fullState
	if err := json.Unmarshal(b, &st); err != nil {
		d.log.Debug("cluster: bad remote state", "err", err)
		return
	}
	p := (*Peer)(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range st.Guards {
		p.mergeGuard(r)
	}
	for _, a := range st.Announced {
		p.mergeAnnounce(a)
	}
}

// events keeps ownership in step with the membership.
type events Peer

func (e *events) NotifyJoin(n *memberlist.Node) { (*Peer)(e).membershipChanged("join", n, true) }

func (e *events) NotifyLeave(n *memberlist.Node) { (*Peer)(e).membershipChanged("leave", n, false) }

func (e *events) NotifyUpdate(n *memberlist.Node) { (*Peer)(e).membershipChanged("update", n, true) }

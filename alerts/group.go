package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// group is every check failing for one problem in one scope: the unit of
// notification. Its key is problem/scope, e.g.
// "smtp_auth_disabled_tenant/contoso.com", so one tenant-wide change across
// 200 mailboxes is one group and one notification per sink.
type group struct {
	Key     string `json:"key"`
	Problem string `json:"problem"`
	Scope   string `json:"scope"`
	// Created distinguishes a group from an earlier one with the same key
	// in notification ids.
	Created time.Time `json:"created"`
	// Members are the checks firing now.
	Members map[scheduler.CheckID]Member `json:"members"`
	// Gone are members that left since the last flush, kept until every
	// sink that was told they fired has been told they recovered.
	Gone map[scheduler.CheckID]Member `json:"gone,omitempty"`
	// FirstChange is the first change not yet flushed (zero when none).
	FirstChange time.Time             `json:"first_change,omitzero"`
	LastFlush   time.Time             `json:"last_flush,omitzero"`
	Sinks       map[string]*sinkGroup `json:"sinks"`
}

// sinkGroup is what one sink was told about a group.
type sinkGroup struct {
	// Notified are the checks the sink was told are firing.
	Notified map[scheduler.CheckID]Member `json:"notified"`
	LastSent time.Time                    `json:"last_sent,omitzero"`
	LastKind scheduler.EventKind          `json:"last_kind,omitempty"`
	Seq      uint64                       `json:"seq"`
}

func (g *group) init() {
	if g.Members == nil {
		g.Members = map[scheduler.CheckID]Member{}
	}
	if g.Gone == nil {
		g.Gone = map[scheduler.CheckID]Member{}
	}
	if g.Sinks == nil {
		g.Sinks = map[string]*sinkGroup{}
	}
	for _, s := range g.Sinks {
		if s.Notified == nil {
			s.Notified = map[scheduler.CheckID]Member{}
		}
	}
}

func (g *group) sink(name string) *sinkGroup {
	s := g.Sinks[name]
	if s == nil {
		s = &sinkGroup{Notified: map[scheduler.CheckID]Member{}}
		g.Sinks[name] = s
	}
	return s
}

func (g *group) touch(now time.Time) {
	if g.FirstChange.IsZero() {
		g.FirstChange = now
	}
}

// scopeOf is the tenant domain of a user address, else the target name.
func scopeOf(user, target string) string {
	if i := strings.LastIndexByte(user, '@'); i >= 0 && i < len(user)-1 {
		return strings.ToLower(user[i+1:])
	}
	return target
}

// problemOf names what a firing event is about: its cause, or
// "unexpectedly_ok" for a posture check that logged in.
func problemOf(ev *scheduler.Event) string {
	return problem(ev.Kind, ev.Cause)
}

func problem(kind scheduler.EventKind, cause diagnose.Cause) string {
	switch kind {
	case scheduler.EventUnexpectedlyOK, scheduler.EventPostureUnverified:
		return string(kind)
	}
	return string(cause)
}

// IncidentKey is the group a check in a firing state belongs to, the same
// key GroupKey gives its event, so that the status page shows an incident
// exactly as the alerts group it. kind is the event kind that put it there
// (EventRegressed for a failing check).
func IncidentKey(kind scheduler.EventKind, cause diagnose.Cause, user, target string) (key, prob, scope string) {
	prob, scope = problem(kind, cause), scopeOf(user, target)
	return prob + "/" + scope, prob, scope
}

// GroupKey is the key of the group a firing event joins; PagerDuty uses it
// (prefixed) as the dedup key.
func GroupKey(ev *scheduler.Event) string {
	k, _, _ := IncidentKey(ev.Kind, ev.Cause, ev.User, ev.Target)
	return k
}

// apply moves one event into the groups. It returns the keys it changed.
func (m *Manager) apply(ev *scheduler.Event, now time.Time) []string {
	if ev.Handover != "" {
		return m.handover(ev, now)
	}
	var touched []string
	prevKey, had := m.index[ev.CheckID]
	leave := func(nowCause diagnose.Cause) {
		g := m.groups[prevKey]
		if g == nil {
			return
		}
		mem := g.Members[ev.CheckID]
		delete(g.Members, ev.CheckID)
		delete(m.index, ev.CheckID)
		mem.ResolvedAt, mem.NowCause, mem.New = ev.Time, nowCause, false
		g.Gone[ev.CheckID] = mem
		g.touch(now)
		touched = append(touched, prevKey)
	}
	switch ev.Kind {
	case scheduler.EventRecovered:
		if had {
			leave(ev.Cause)
		}
	case scheduler.EventRegressed, scheduler.EventCauseChanged, scheduler.EventUnexpectedlyOK, scheduler.EventPostureUnverified:
		key := GroupKey(ev)
		if had && prevKey != key {
			leave(ev.Cause)
		}
		g := m.groups[key]
		if g == nil {
			g = &group{Key: key, Problem: problemOf(ev), Scope: scopeOf(ev.User, ev.Target), Created: now}
			g.init()
			m.groups[key] = g
		}
		mem := memberOf(*ev)
		if old, ok := g.Members[ev.CheckID]; ok {
			// Already known in this group (e.g. an event replayed after a
			// restart): refresh its details, not a change worth a message.
			mem.Kind, mem.Since = old.Kind, old.Since
			g.Members[ev.CheckID] = mem
			return touched
		}
		delete(g.Gone, ev.CheckID)
		g.Members[ev.CheckID] = mem
		m.index[ev.CheckID] = key
		g.touch(now)
		touched = append(touched, key)
	}
	return touched
}

// router moves events from the inbox into groups and flushes groups that
// are due, until ctx is done.
func (m *Manager) router(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		if err := m.ingest(); err != nil {
			m.log.Error("alerts: ingest failed", "err", err)
		}
		next, err := m.flush()
		if err != nil {
			m.log.Error("alerts: flush failed", "err", err)
		}
		wait := m.opt.Tick
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(m.now()), time.Millisecond))
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
			if !t.Stop() {
				<-t.C
			}
		case <-t.C:
		}
	}
}

// ingest applies the inbox's events to the groups, in event order, and
// stores the groups and the seen marks in the same transaction that empties
// the inbox.
func (m *Manager) ingest() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		n := 0
		err := m.db.Update(func(tx *bolt.Tx) error {
			in := tx.Bucket(bInbox)
			c := in.Cursor()
			var ids [][]byte
			touched := map[string]bool{}
			now := m.now()
			for k, v := c.First(); k != nil && len(ids) < 1000; k, v = c.Next() {
				ids = append(ids, append([]byte(nil), k...))
				var ev scheduler.Event
				if err := json.Unmarshal(v, &ev); err != nil {
					m.log.Error("alerts: unreadable event dropped", "id", string(k), "err", err)
					continue
				}
				for _, key := range m.apply(&ev, now) {
					touched[key] = true
				}
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			for _, id := range ids {
				if err := in.Delete(id); err != nil {
					return err
				}
			}
			if err := markSeen(tx, ids); err != nil {
				return err
			}
			for key := range touched {
				if err := putGroup(tx, m.groups[key]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			// The in-memory groups may be ahead of the file: reload.
			m.mu.Unlock()
			lerr := m.loadGroups()
			m.mu.Lock()
			if lerr != nil {
				return fmt.Errorf("%w (and reload: %v)", err, lerr)
			}
			return err
		}
		if n < 1000 {
			return nil
		}
	}
}

func putGroup(tx *bolt.Tx, g *group) error {
	b := tx.Bucket(bGroups)
	if g == nil {
		return nil
	}
	if len(g.Members) == 0 && len(g.Gone) == 0 && !g.anyNotified() {
		return b.Delete([]byte(g.Key))
	}
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return b.Put([]byte(g.Key), v)
}

func (g *group) anyNotified() bool {
	for _, s := range g.Sinks {
		if len(s.Notified) > 0 {
			return true
		}
	}
	return false
}

// routed reports whether a sink takes a member for an event kind.
func (m *Manager) routed(sink string, labels map[string]string, kind scheduler.EventKind) bool {
	if len(m.opt.Routes) == 0 {
		return true
	}
	for i := range m.opt.Routes {
		r := &m.opt.Routes[i]
		if r.wantsKind(kind) && matchAll(r.Matchers, labels) {
			for _, s := range r.Sinks {
				if s == sink {
					return true
				}
			}
		}
	}
	return false
}

func (m *Manager) repeatFor(s *sinkRT) time.Duration {
	if s.RepeatInterval > 0 {
		return s.RepeatInterval
	}
	return m.opt.RepeatInterval
}

// flush turns due groups into notifications: for each sink, the checks
// newly firing (routed to it, not silenced) and the checks it was told
// about that recovered; and reminders for groups still firing after the
// repeat interval. It returns when it next has something to do.
func (m *Manager) flush() (next time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	type out struct {
		n  Notification
		rt *sinkRT
	}
	var outs []out
	var changed []*group
	keys := make([]string, 0, len(m.groups))
	for k := range m.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		g := m.groups[key]
		due := now
		if !g.FirstChange.IsZero() {
			due = g.FirstChange.Add(m.opt.GroupWait)
		}
		if !g.LastFlush.IsZero() && g.LastFlush.Add(m.opt.GroupInterval).After(due) {
			due = g.LastFlush.Add(m.opt.GroupInterval)
		}
		type diff struct {
			newFiring, resolved []scheduler.CheckID
		}
		diffs := map[string]*diff{}
		anyDiff := false
		for _, s := range m.sinks {
			sg := g.Sinks[s.Name]
			d := &diff{}
			for id, mem := range g.Members {
				if sg != nil {
					if _, ok := sg.Notified[id]; ok {
						continue
					}
				}
				l := memberLabels(&mem, g.Problem)
				if m.routed(s.Name, l, mem.Kind) && !m.sil.muted(l, now) {
					d.newFiring = append(d.newFiring, id)
				}
			}
			if sg != nil {
				for id := range sg.Notified {
					if _, firing := g.Members[id]; firing {
						continue
					}
					// A sink told that a check fires is always told that
					// it stopped, whatever its routes' kinds say now: a
					// route with kinds [unexpectedly_ok] must not leave
					// a PagerDuty incident open forever.
					d.resolved = append(d.resolved, id)
				}
			}
			if len(d.newFiring)+len(d.resolved) > 0 {
				diffs[s.Name] = d
				anyDiff = true
			}
		}
		dirty := false
		switch {
		case anyDiff && due.After(now):
			soon(due)
		case anyDiff:
			for _, s := range m.sinks {
				d := diffs[s.Name]
				if d == nil {
					continue
				}
				sg := g.sink(s.Name)
				if len(d.newFiring) > 0 {
					for _, id := range d.newFiring {
						sg.Notified[id] = g.Members[id]
					}
					n := m.firing(g, s, sg, d.newFiring, false, now)
					outs = append(outs, out{n, s})
				}
				if len(d.resolved) > 0 {
					n := m.resolvedNote(g, s, sg, d.resolved, now)
					for _, id := range d.resolved {
						delete(sg.Notified, id)
					}
					outs = append(outs, out{n, s})
				}
			}
			g.LastFlush, g.FirstChange = now, time.Time{}
			dirty = true
		case !g.FirstChange.IsZero():
			// Changes that cancelled out (a flap inside the wait).
			g.FirstChange = time.Time{}
			dirty = true
		}
		// Reminders for what is still firing.
		for _, s := range m.sinks {
			sg := g.Sinks[s.Name]
			// A reminder of checks a silence mutes is what the silence is
			// there to stop; it is sent once the silence ends, if due.
			if sg == nil || sg.LastSent.IsZero() || !m.hasAudibleFiring(g, sg, now) {
				continue
			}
			at := sg.LastSent.Add(m.repeatFor(s))
			if at.After(now) {
				soon(at)
				continue
			}
			n := m.firing(g, s, sg, nil, true, now)
			outs = append(outs, out{n, s})
			dirty = true
		}
		// Forget recovered members every sink has heard about.
		for id := range g.Gone {
			still := false
			for _, sg := range g.Sinks {
				if _, ok := sg.Notified[id]; ok {
					still = true
				}
			}
			if !still {
				delete(g.Gone, id)
				dirty = true
			}
		}
		if dirty {
			changed = append(changed, g)
		}
	}
	if len(changed) == 0 {
		return next, nil
	}
	err = m.db.Update(func(tx *bolt.Tx) error {
		for _, o := range outs {
			if err := enqueue(tx, &o.n); err != nil {
				return err
			}
		}
		for _, g := range changed {
			if err := putGroup(tx, g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.mu.Unlock()
		lerr := m.loadGroups()
		m.mu.Lock()
		if lerr != nil {
			return next, fmt.Errorf("%w (and reload: %v)", err, lerr)
		}
		return next, err
	}
	for _, g := range changed {
		if len(g.Members) == 0 && len(g.Gone) == 0 && !g.anyNotified() {
			delete(m.groups, g.Key)
		}
	}
	for _, o := range outs {
		o.rt.depth++
		m.mDepth.WithLabelValues(o.rt.Name).Set(float64(o.rt.depth))
		signal(o.rt.wake)
	}
	return next, nil
}

// hasAudibleFiring reports whether a sink was told of a check that still
// fires and that no silence mutes now.
func (m *Manager) hasAudibleFiring(g *group, sg *sinkGroup, now time.Time) bool {
	for id := range sg.Notified {
		if mem, ok := g.Members[id]; ok && !m.mutedMember(g, &mem, now) {
			return true
		}
	}
	return false
}

func (m *Manager) mutedMember(g *group, mem *Member, now time.Time) bool {
	return m.sil.muted(memberLabels(mem, g.Problem), now)
}

// notificationID is deterministic: the same group, sink and sequence give
// the same id, which receivers use to drop a copy delivered twice.
func notificationID(g *group, sink string, seq uint64) string {
	h := sha256.Sum256([]byte(g.Key + "\x00" + strconv.FormatInt(g.Created.UnixNano(), 10) + "\x00" + sink +
		"\x00" + strconv.FormatUint(seq, 10)))
	return hex.EncodeToString(h[:16])
}

func (m *Manager) base(g *group, s *sinkRT, sg *sinkGroup, now time.Time) Notification {
	sg.Seq++
	return Notification{ID: notificationID(g, s.Name, sg.Seq), Sink: s.Name, GroupKey: g.Key, Problem: g.Problem,
		Scope: g.Scope, Time: now, StatusURL: m.opt.StatusURL, Firing: []Member{}, Resolved: []Member{}}
}

// firing builds a firing notification listing every check the sink knows
// is firing, the new ones marked.
func (m *Manager) firing(g *group, s *sinkRT, sg *sinkGroup, newIDs []scheduler.CheckID, repeat bool,
	now time.Time) Notification {
	n := m.base(g, s, sg, now)
	n.Status, n.Repeat = StatusFiring, repeat
	isNew := map[scheduler.CheckID]bool{}
	for _, id := range newIDs {
		isNew[id] = true
	}
	kind := sg.LastKind
	if len(newIDs) > 0 {
		kind = scheduler.EventCauseChanged
		for _, id := range newIDs {
			switch k := g.Members[id].Kind; k {
			case scheduler.EventUnexpectedlyOK, scheduler.EventRegressed, scheduler.EventPostureUnverified, KindTenant:
				kind = k
			}
		}
	}
	if kind == "" {
		kind = scheduler.EventRegressed
	}
	n.Kind = kind
	for id := range sg.Notified {
		// A muted check stays notified (its resolve is still owed) but is
		// not repeated while the silence lasts.
		if mem, ok := g.Members[id]; ok && !m.mutedMember(g, &mem, now) {
			mem.New = isNew[id]
			n.Firing = append(n.Firing, mem)
		}
	}
	sortMembers(n.Firing)
	n.StartsAt = earliest(n.Firing)
	sg.LastSent, sg.LastKind = now, kind
	return n
}

func (m *Manager) resolvedNote(g *group, s *sinkRT, sg *sinkGroup, ids []scheduler.CheckID, now time.Time) Notification {
	n := m.base(g, s, sg, now)
	n.Status, n.Kind = StatusResolved, scheduler.EventRecovered
	for _, id := range ids {
		mem := sg.Notified[id]
		if gone, ok := g.Gone[id]; ok {
			mem.ResolvedAt, mem.NowCause = gone.ResolvedAt, gone.NowCause
		}
		if mem.ResolvedAt.IsZero() {
			mem.ResolvedAt = now
		}
		mem.New = false
		n.Resolved = append(n.Resolved, mem)
		if mem.ResolvedAt.After(n.EndsAt) {
			n.EndsAt = mem.ResolvedAt
		}
	}
	for id := range sg.Notified {
		if mem, ok := g.Members[id]; ok {
			n.Firing = append(n.Firing, mem)
		}
	}
	sortMembers(n.Firing)
	sortMembers(n.Resolved)
	n.StartsAt = earliest(n.Resolved)
	// A partial recovery: the group still fires. Its status says so
	// (receivers that close incidents on "resolved" must not close this
	// one); the kind, recovered, says what happened.
	if len(n.Firing) > 0 {
		n.Status = StatusFiring
	}
	return n
}

func sortMembers(ms []Member) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].CheckID < ms[j].CheckID })
}

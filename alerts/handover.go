package alerts

import (
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// handover applies an event that records a change of a check's owner in a
// cluster (scheduler.Event.Handover), not of its state. The incident keeps
// its identity on every member (GroupKey is derived from the event's kind,
// cause and scope only; PagerDuty's dedup key and Alertmanager's labels
// from it and the check), and a moved check is never announced twice:
//
//   - released (another member runs the check now): the check leaves its
//     group without a word, so this member sends neither "resolved" nor
//     reminders for an incident that goes on elsewhere;
//   - adopted (this member took the check over while it needs attention,
//     which its previous owner announced at ev.Time): the check joins its
//     group as already notified to every sink that takes it, so nothing is
//     sent now, and its recovery is told when it comes, under the same
//     group key. Announced less than a group wait and interval ago, its
//     previous owner may not have notified it before it died: it is then
//     notified as any new member.
//
// It returns the keys of the groups it changed, which are stored but not
// flushed (no change is due to any sink).
func (m *Manager) handover(ev *scheduler.Event, now time.Time) []string {
	var touched []string
	prevKey, had := m.index[ev.CheckID]
	forget := func() {
		delete(m.index, ev.CheckID)
		g := m.groups[prevKey]
		if g == nil {
			return
		}
		delete(g.Members, ev.CheckID)
		delete(g.Gone, ev.CheckID)
		for _, sg := range g.Sinks {
			delete(sg.Notified, ev.CheckID)
		}
		touched = append(touched, prevKey)
	}
	switch ev.Handover {
	case scheduler.HandoverReleased:
		if had {
			forget()
		}
	case scheduler.HandoverAdopted:
		key := GroupKey(ev)
		if had && prevKey == key {
			return nil // this member knows the incident already (a restart)
		}
		if had {
			forget()
		}
		if now.Sub(ev.Time) < m.opt.GroupWait+m.opt.GroupInterval {
			// Announced so recently (ev.Time) that its previous owner
			// may have died before notifying it: tell it, under the
			// same group key. Twice is better than never.
			plain := *ev
			plain.Handover = ""
			return append(touched, m.apply(&plain, now)...)
		}
		g := m.groups[key]
		if g == nil {
			g = &group{Key: key, Problem: problemOf(ev), Scope: scopeOf(ev.User, ev.Target), Created: now}
			g.init()
			m.groups[key] = g
		}
		mem := memberOf(*ev)
		delete(g.Gone, ev.CheckID)
		g.Members[ev.CheckID] = mem
		m.index[ev.CheckID] = key
		for _, s := range m.sinks {
			if !m.routed(s.Name, memberLabels(&mem, g.Problem), mem.Kind) {
				continue
			}
			sg := g.sink(s.Name)
			sg.Notified[ev.CheckID] = mem
			if sg.LastSent.IsZero() {
				// Reminders count from the take-over.
				sg.LastSent, sg.LastKind = now, mem.Kind
			}
		}
		touched = append(touched, key)
	}
	return touched
}

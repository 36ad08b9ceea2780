package scheduler

import (
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// Query selects checks for the API and the status page. The zero Query
// selects every check, sorted by id, unpaginated.
type Query struct {
	// Status, Cause: any of these (empty: any).
	Status []Status
	Cause  []diagnose.Cause
	// Target: this target name exactly ("" any).
	Target string
	// Protocol, Mechanism: exactly ("" any).
	Protocol  probe.Protocol
	Mechanism probe.Mechanism
	// Labels: every one of these label values (nil: any).
	Labels map[string]string
	// Search: checks whose id contains this text, case-insensitively.
	Search string
	// ProblemsFirst orders checks that need attention (unexpectedly_ok,
	// failing, then any other status that is not ok or pending, e.g. a
	// posture the daemon cannot verify) before the rest; each group by id.
	ProblemsFirst bool
	// Offset skips that many matching checks; Limit returns at most that
	// many (0: all).
	Offset, Limit int
}

// Page is one page of a Query's answer with its totals.
type Page struct {
	// Total counts every configured check; Statuses counts them by status.
	Total    int            `json:"total"`
	Statuses map[Status]int `json:"statuses"`
	// Matched counts the checks the query selects (before Offset and
	// Limit); MatchedStatuses and MatchedCauses break them down, so that a
	// page of 50 can say "1,203 failing with basic_auth_disabled".
	Matched         int                    `json:"matched"`
	MatchedStatuses map[Status]int         `json:"matched_statuses"`
	MatchedCauses   map[diagnose.Cause]int `json:"matched_causes"`
	Offset          int                    `json:"offset"`
	Limit           int                    `json:"limit,omitempty"`
	// Checks of this page, in the query's order.
	Checks []CheckState `json:"checks"`
}

// problem ranks a status for Query.ProblemsFirst: lower first.
func problem(s Status) int {
	switch s {
	case StatusUnexpectedlyOK:
		return 0
	case StatusFailing:
		return 1
	case StatusOK:
		return 3
	case StatusPending, "":
		return 4
	case StatusElsewhere:
		return 5
	}
	return 2 // a status newer than this ranking (e.g. unverified)
}

func (q *Query) match(st *CheckState) bool {
	if len(q.Status) > 0 && !slices.Contains(q.Status, st.Status) {
		return false
	}
	if len(q.Cause) > 0 && !slices.Contains(q.Cause, st.Cause) {
		return false
	}
	if q.Target != "" && st.Target != q.Target {
		return false
	}
	if q.Protocol != "" && st.Protocol != q.Protocol {
		return false
	}
	if q.Mechanism != "" && st.Mechanism != q.Mechanism {
		return false
	}
	for k, v := range q.Labels {
		if lv, ok := st.Labels[k]; !ok || lv != v {
			return false
		}
	}
	if q.Search != "" && !strings.Contains(strings.ToLower(string(st.ID)), strings.ToLower(q.Search)) {
		return false
	}
	return true
}

// Query answers q from the checks' published summaries without taking the
// scheduler's lock (in a cluster, checks another member owns are listed
// with status elsewhere and their owner, and match on their configuration
// only): a request over 60,000 checks neither copies the fleet
// nor delays a probe's start. It copies only the checks of the page.
func (s *Scheduler) Query(q Query) Page {
	now := s.opt.Clock.Now()
	list := s.list()
	p := Page{Statuses: map[Status]int{}, MatchedStatuses: map[Status]int{},
		MatchedCauses: map[diagnose.Cause]int{}, Offset: max(q.Offset, 0), Limit: max(q.Limit, 0), Checks: []CheckState{}}
	q.Search = strings.ToLower(q.Search)
	type hit struct {
		e    *entry
		rank int
	}
	var ranked []hit
	var rs CheckState
	for _, e := range list {
		st := e.pub.Load()
		remote := s.elsewhere(e, st, &rs)
		if remote {
			st = &rs
		}
		p.Total++
		p.Statuses[st.Status]++
		if !q.match(st) {
			continue
		}
		p.MatchedStatuses[st.Status]++
		if st.Cause != "" {
			p.MatchedCauses[st.Cause]++
		}
		i := p.Matched
		p.Matched++
		if q.ProblemsFirst {
			ranked = append(ranked, hit{e, problem(st.Status)})
			continue
		}
		if i >= p.Offset && (p.Limit == 0 || len(p.Checks) < p.Limit) {
			if remote {
				p.Checks = append(p.Checks, s.remoteView(e, rs))
			} else {
				p.Checks = append(p.Checks, s.view(e, st, now))
			}
		}
	}
	if q.ProblemsFirst {
		// Stable: the list is sorted by id, so each rank stays in id order.
		slices.SortStableFunc(ranked, func(a, b hit) int { return a.rank - b.rank })
		for i := p.Offset; i < len(ranked) && (p.Limit == 0 || len(p.Checks) < p.Limit); i++ {
			e := ranked[i].e
			if pub := e.pub.Load(); s.elsewhere(e, pub, &rs) {
				p.Checks = append(p.Checks, s.remoteView(e, rs))
			} else {
				p.Checks = append(p.Checks, s.view(e, pub, now))
			}
		}
	}
	return p
}

// Len is the number of configured checks (in a cluster: that this member
// owns); it takes no lock.
func (s *Scheduler) Len() int {
	list := s.list()
	if s.opt.Cluster == nil {
		return len(list)
	}
	n := 0
	for _, e := range list {
		if s.owns(e) {
			n++
		}
	}
	return n
}

// Range calls fn with every check's state (in a cluster: every owned
// check's), in id order, until fn returns
// false; like Query it takes no lock and copies one state at a time (the
// metrics collector reads the fleet this way).
func (s *Scheduler) Range(fn func(CheckState) bool) {
	now := s.opt.Clock.Now()
	for _, e := range s.list() {
		if !s.owns(e) {
			continue
		}
		if !fn(s.view(e, e.pub.Load(), now)) {
			return
		}
	}
}

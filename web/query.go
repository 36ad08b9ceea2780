package web

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Querier is optionally implemented by a Source (the scheduler does) to
// answer a filtered, paginated query without copying the fleet. Sources
// without it are queried over their Snapshot.
type Querier interface {
	Query(q scheduler.Query) scheduler.Page
}

// CheckGetter is optionally implemented by a Source (the scheduler does)
// to return one check by id in O(1), with its latest attempt in full.
type CheckGetter interface {
	Check(id scheduler.CheckID) (scheduler.CheckState, bool)
}

// Ranger is optionally implemented by a Source (the scheduler does) to
// visit every check without copying the fleet (metrics).
type Ranger interface {
	Range(fn func(scheduler.CheckState) bool)
}

// MaxPageLimit caps ?limit= of GET /api/v1/status.
const MaxPageLimit = 10000

// ParseStatusQuery reads the filter and page of GET /api/v1/status (and of
// the status page) from URL parameters:
//
//	status=failing,unexpectedly_ok   any of these statuses (repeatable)
//	cause=basic_auth_disabled        any of these causes (repeatable)
//	target=NAME                      this target
//	protocol=imap, mechanism=basic   exactly
//	label=team=facilities            this label value (repeatable: all must hold)
//	q=TEXT                           id contains TEXT (case-insensitive)
//	sort=id|problems                 problems: unexpectedly_ok, failing, … first
//	offset=N, limit=N                page (limit at most MaxPageLimit; none: all)
func ParseStatusQuery(v url.Values) (scheduler.Query, error) {
	var q scheduler.Query
	list := func(key string) []string {
		var out []string
		for _, s := range v[key] {
			for _, p := range strings.Split(s, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
		return out
	}
	for _, s := range list("status") {
		q.Status = append(q.Status, scheduler.Status(s))
	}
	for _, c := range list("cause") {
		q.Cause = append(q.Cause, diagnose.Cause(c))
	}
	q.Target = v.Get("target")
	q.Protocol = probe.Protocol(v.Get("protocol"))
	q.Mechanism = probe.Mechanism(v.Get("mechanism"))
	q.Search = v.Get("q")
	for _, l := range v["label"] {
		k, val, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return q, fmt.Errorf("label must be name=value, got %q", l)
		}
		if q.Labels == nil {
			q.Labels = map[string]string{}
		}
		if prev, dup := q.Labels[k]; dup && prev != val {
			return q, fmt.Errorf("label %s given twice with different values", k)
		}
		q.Labels[k] = val
	}
	switch v.Get("sort") {
	case "", "id":
	case "problems":
		q.ProblemsFirst = true
	default:
		return q, errors.New("sort must be id or problems")
	}
	for key, dst := range map[string]*int{"offset": &q.Offset, "limit": &q.Limit} {
		s := v.Get(key)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || (key == "limit" && n == 0) {
			return q, fmt.Errorf("%s must be a %s integer", key, map[string]string{"offset": "non-negative", "limit": "positive"}[key])
		}
		*dst = n
	}
	q.Limit = min(q.Limit, MaxPageLimit)
	return q, nil
}

// QueryChecks answers q from src: through its Query when it has one,
// else over its Snapshot (same semantics, for test fakes and other
// sources). The status page and GET /api/v1/status both use it.
func QueryChecks(src Source, q scheduler.Query) scheduler.Page {
	if qr, ok := src.(Querier); ok {
		return qr.Query(q)
	}
	all := src.Snapshot()
	var matched []scheduler.CheckState
	p := scheduler.Page{Statuses: map[scheduler.Status]int{}, MatchedStatuses: map[scheduler.Status]int{},
		MatchedCauses: map[diagnose.Cause]int{}, Offset: max(q.Offset, 0), Limit: max(q.Limit, 0), Checks: []scheduler.CheckState{}}
	for _, st := range all {
		if st.Status == "" {
			st.Status = scheduler.StatusPending
		}
		p.Total++
		p.Statuses[st.Status]++
		if !matchQuery(&q, &st) {
			continue
		}
		p.Matched++
		p.MatchedStatuses[st.Status]++
		if st.Cause != "" {
			p.MatchedCauses[st.Cause]++
		}
		matched = append(matched, st)
	}
	if q.ProblemsFirst {
		slices.SortStableFunc(matched, func(a, b scheduler.CheckState) int { return problemRank(a.Status) - problemRank(b.Status) })
	}
	for i := p.Offset; i < len(matched) && (p.Limit == 0 || len(p.Checks) < p.Limit); i++ {
		p.Checks = append(p.Checks, matched[i])
	}
	return p
}

func problemRank(s scheduler.Status) int {
	switch s {
	case scheduler.StatusUnexpectedlyOK:
		return 0
	case scheduler.StatusFailing:
		return 1
	case scheduler.StatusOK:
		return 3
	case scheduler.StatusPending, "":
		return 4
	}
	return 2
}

func matchQuery(q *scheduler.Query, st *scheduler.CheckState) bool {
	if len(q.Status) > 0 && !slices.Contains(q.Status, st.Status) {
		return false
	}
	if len(q.Cause) > 0 && !slices.Contains(q.Cause, st.Cause) {
		return false
	}
	if (q.Target != "" && st.Target != q.Target) || (q.Protocol != "" && st.Protocol != q.Protocol) ||
		(q.Mechanism != "" && st.Mechanism != q.Mechanism) {
		return false
	}
	for k, v := range q.Labels {
		if lv, ok := st.Labels[k]; !ok || lv != v {
			return false
		}
	}
	return q.Search == "" || strings.Contains(strings.ToLower(string(st.ID)), strings.ToLower(q.Search))
}

// Lener is optionally implemented by a Source (the scheduler does) to
// count the checks without visiting them.
type Lener interface {
	Len() int
}

func countChecks(src Source) int {
	if l, ok := src.(Lener); ok {
		return l.Len()
	}
	n := 0
	rangeChecks(src, func(scheduler.CheckState) bool { n++; return true })
	return n
}

// getCheck returns one check: in O(1) through a CheckGetter, else by a
// scan of the Snapshot.
func getCheck(src Source, id scheduler.CheckID) (scheduler.CheckState, bool) {
	if g, ok := src.(CheckGetter); ok {
		return g.Check(id)
	}
	for _, st := range src.Snapshot() {
		if st.ID == id {
			return st, true
		}
	}
	return scheduler.CheckState{}, false
}

// rangeChecks visits every check, without copying the fleet when the
// source is a Ranger.
func rangeChecks(src Source, fn func(scheduler.CheckState) bool) {
	if r, ok := src.(Ranger); ok {
		r.Range(fn)
		return
	}
	for _, st := range src.Snapshot() {
		if !fn(st) {
			return
		}
	}
}

// lastOf is a check's latest attempt in summary, from the summary the
// scheduler keeps or, for sources that give the full attempt, from it.
func lastOf(st *scheduler.CheckState) *scheduler.AttemptSummary {
	if st.Last != nil {
		return st.Last
	}
	if st.LastAttempt != nil {
		return scheduler.Summarize(st.LastAttempt)
	}
	return nil
}

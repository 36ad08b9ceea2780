package web

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The status page reads the fleet through one small query: filters from the
// URL, every check sorted into incidents (grouped by alerts.IncidentKey,
// as the notifications are), unverified posture, guarded accounts and the
// rest, the rest paginated. It works on a snapshot, so a paginated store
// API can replace the snapshot later without the page changing.

// Page sizes keep the first view small at any fleet size: a grid cell is
// ~110 bytes, an incident member row with its history a few KiB.
const (
	gridPageSize       = 1000
	incidentMembersMax = 6   // per incident on the overview (all are named in its heading)
	incidentPageSize   = 100 // members per page when one incident is opened
	incidentsMax       = 20  // incidents on the overview
	guardsMax          = 50
	readinessMax       = 50
)

// fleetQuery is what the URL asks for.
type fleetQuery struct {
	Q, Target, Label, State, Cause string
	// Incident opens one incident (its key) with all its members, paged.
	Incident string
	// Check opens one check with its full history.
	Check string
	Page  int
}

func parseFleetQuery(r *http.Request) fleetQuery {
	v := r.URL.Query()
	q := fleetQuery{
		Q: strings.TrimSpace(v.Get("q")), Target: strings.TrimSpace(v.Get("target")),
		Label: strings.TrimSpace(v.Get("label")), State: strings.TrimSpace(v.Get("state")),
		Cause: strings.TrimSpace(v.Get("cause")), Incident: v.Get("incident"), Check: v.Get("check"),
	}
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 1 {
		q.Page = p
	} else {
		q.Page = 1
	}
	return q
}

// filtered reports whether any filter narrows the fleet.
func (q fleetQuery) filtered() bool {
	return q.Q != "" || q.Target != "" || q.Label != "" || q.State != "" || q.Cause != ""
}

// values renders the query back into a URL query (lang included), with
// the page replaced; page <= 1 drops it.
func (q fleetQuery) values(lang string, page int) string {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("lang", lang)
	set("q", q.Q)
	set("target", q.Target)
	set("label", q.Label)
	set("state", q.State)
	set("cause", q.Cause)
	set("incident", q.Incident)
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	return "?" + v.Encode()
}

// query is the fleet-scale query (scheduler.Query) for the filters,
// limited to statuses; ok is false when the state filter excludes them all.
func (q fleetQuery) query(statuses []scheduler.Status) (sq scheduler.Query, ok bool) {
	sq = scheduler.Query{Search: q.Q, Target: q.Target}
	for _, st := range statuses {
		if q.State == "" || q.State == string(st) {
			sq.Status = append(sq.Status, st)
		}
	}
	if len(sq.Status) == 0 {
		return sq, false
	}
	if q.Cause != "" {
		sq.Cause = []diagnose.Cause{diagnose.Cause(q.Cause)}
	}
	if k, v, found := strings.Cut(q.Label, "="); found && k != "" {
		sq.Labels = map[string]string{k: v}
	}
	return sq, true
}

// incidentOf names the incident a check belongs to ("" when it belongs to
// none): failing, unexpectedly ok and unverified checks, keyed as the
// alerts key their events.
func incidentOf(st *scheduler.CheckState) (key, problem, scope string) {
	var kind scheduler.EventKind
	switch st.Status {
	case scheduler.StatusFailing:
		kind = scheduler.EventRegressed
	case scheduler.StatusUnexpectedlyOK:
		kind = scheduler.EventUnexpectedlyOK
	case scheduler.StatusUnverified:
		kind = scheduler.EventPostureUnverified
	default:
		return "", "", ""
	}
	return alerts.IncidentKey(kind, st.Cause, st.User, st.Target)
}

// incidentSet is one incident's members before rendering.
type incidentSet struct {
	Key, Problem, Scope string
	Status              scheduler.Status
	Since               time.Time
	Members             []*scheduler.CheckState
}

// fleetResult is the query's answer: everything the page lays out, still
// as states (rendering happens in buildPage, for the shown part only).
type fleetResult struct {
	Total, Matched int
	Counts         map[scheduler.Status]int
	Causes         []string // causes present, for the filter's list
	Incidents      []*incidentSet
	Unverified     []*incidentSet
	Guards         []*scheduler.CheckState // one check per guarded account
	Rest           []*scheduler.CheckState // healthy and pending, this page
	RestTotal      int
	Pages, Page    int
	Check          *scheduler.CheckState

	// Elsewhere counts the checks other cluster members run (unfiltered).
	Elsewhere int
}

// runFleetQuery reads what the page lays out through the paginated query
// (QueryChecks: the scheduler's Query when the source has one): every
// check that needs attention, grouped into incidents, and one page of the
// rest. The checks it returns are compact (no transcript); the page loads
// the few it shows in full.
func runFleetQuery(src Source, q fleetQuery) fleetResult {
	res := fleetResult{Counts: map[scheduler.Status]int{}, Page: q.Page}
	groups := map[string]*incidentSet{}
	guarded := map[string]bool{}
	causes := map[string]bool{}
	count := func(p scheduler.Page) {
		res.Total = p.Total
		res.Elsewhere = p.Statuses[scheduler.StatusElsewhere]
		res.Matched += p.Matched
		for st, n := range p.MatchedStatuses {
			res.Counts[st] += n
		}
		for c := range p.MatchedCauses {
			if c != "" && c != diagnose.CauseOK {
				causes[string(c)] = true
			}
		}
	}
	if sq, ok := q.query([]scheduler.Status{scheduler.StatusFailing, scheduler.StatusUnexpectedlyOK, scheduler.StatusUnverified}); ok {
		p := QueryChecks(src, sq)
		count(p)
		for i := range p.Checks {
			st := &p.Checks[i]
			if g := st.LockoutGuard; g != nil && g.Active && !guarded[g.Account] {
				guarded[g.Account] = true
				res.Guards = append(res.Guards, st)
			}
			key, prob, scope := incidentOf(st)
			g := groups[key]
			if g == nil {
				g = &incidentSet{Key: key, Problem: prob, Scope: scope, Status: st.Status, Since: st.Since}
				groups[key] = g
				if st.Status == scheduler.StatusUnverified {
					res.Unverified = append(res.Unverified, g)
				} else {
					res.Incidents = append(res.Incidents, g)
				}
			}
			if !st.Since.IsZero() && (g.Since.IsZero() || st.Since.Before(g.Since)) {
				g.Since = st.Since
			}
			g.Members = append(g.Members, st)
		}
	}
	// In a cluster, checks another member runs are cells too (they open on
	// their owner).
	if sq, ok := q.query([]scheduler.Status{scheduler.StatusOK, scheduler.StatusPending, scheduler.StatusElsewhere}); ok && q.Incident == "" {
		sq.Offset, sq.Limit = (max(q.Page, 1)-1)*gridPageSize, gridPageSize
		p := QueryChecks(src, sq)
		count(p)
		res.RestTotal = p.Matched
		for i := range p.Checks {
			res.Rest = append(res.Rest, &p.Checks[i])
		}
	}
	if q.Check != "" {
		if st, ok := getCheck(src, scheduler.CheckID(q.Check)); ok {
			res.Check = &st
		}
	}
	for c := range causes {
		res.Causes = append(res.Causes, c)
	}
	sort.Strings(res.Causes)
	// Security posture first, then the widest incident, then the oldest.
	order := func(s []*incidentSet) {
		sort.SliceStable(s, func(i, j int) bool {
			a, b := s[i], s[j]
			if (a.Status == scheduler.StatusUnexpectedlyOK) != (b.Status == scheduler.StatusUnexpectedlyOK) {
				return a.Status == scheduler.StatusUnexpectedlyOK
			}
			if len(a.Members) != len(b.Members) {
				return len(a.Members) > len(b.Members)
			}
			if !a.Since.Equal(b.Since) {
				return a.Since.Before(b.Since)
			}
			return a.Key < b.Key
		})
	}
	order(res.Incidents)
	order(res.Unverified)
	if q.Incident != "" {
		keep := func(s []*incidentSet) []*incidentSet {
			for _, g := range s {
				if g.Key == q.Incident {
					return []*incidentSet{g}
				}
			}
			return nil
		}
		res.Incidents, res.Unverified = keep(res.Incidents), keep(res.Unverified)
	}
	res.Pages = max(1, (res.RestTotal+gridPageSize-1)/gridPageSize)
	if len(res.Guards) > guardsMax {
		res.Guards = res.Guards[:guardsMax]
	}
	return res
}

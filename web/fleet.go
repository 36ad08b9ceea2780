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
	incidentMembersMax = 12  // per incident on the overview
	incidentPageSize   = 100 // members per page when one incident is opened
	incidentsMax       = 25  // incidents on the overview
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

// match applies the filters to one check. label is "key=value" or "key"
// (has the label); q matches the id, user, cause and label values.
func (q fleetQuery) match(st *scheduler.CheckState) bool {
	if q.Target != "" && !strings.Contains(strings.ToLower(st.Target), strings.ToLower(q.Target)) {
		return false
	}
	if q.State != "" && string(st.Status) != q.State {
		return false
	}
	if q.Cause != "" && string(st.Cause) != q.Cause && string(st.Pending) != q.Cause {
		return false
	}
	if q.Label != "" {
		k, v, hasV := strings.Cut(q.Label, "=")
		got, ok := st.Labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	if q.Q != "" {
		needle := strings.ToLower(q.Q)
		hay := strings.ToLower(string(st.ID) + " " + st.User + " " + string(st.Cause))
		if !strings.Contains(hay, needle) {
			found := false
			for k, v := range st.Labels {
				if strings.Contains(strings.ToLower(k+"="+v), needle) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
	}
	return true
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
}

// runFleetQuery sorts a snapshot as the page shows it. It keeps pointers
// into checks; the caller must not modify the slice meanwhile.
func runFleetQuery(checks []scheduler.CheckState, q fleetQuery) fleetResult {
	res := fleetResult{Total: len(checks), Counts: map[scheduler.Status]int{}, Page: q.Page}
	groups := map[string]*incidentSet{}
	guarded := map[string]bool{}
	causes := map[string]bool{}
	var rest []*scheduler.CheckState
	for i := range checks {
		st := &checks[i]
		if st.Status == "" {
			st.Status = scheduler.StatusPending
		}
		if st.Cause != "" && st.Cause != diagnose.CauseOK {
			causes[string(st.Cause)] = true
		}
		if q.Check != "" && string(st.ID) == q.Check {
			res.Check = st
		}
		if !q.match(st) {
			continue
		}
		res.Matched++
		res.Counts[st.Status]++
		if g := st.LockoutGuard; g != nil && g.Active && !guarded[g.Account] {
			guarded[g.Account] = true
			res.Guards = append(res.Guards, st)
		}
		key, prob, scope := incidentOf(st)
		if key == "" {
			rest = append(rest, st)
			continue
		}
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
	res.RestTotal = len(rest)
	res.Pages = max(1, (len(rest)+gridPageSize-1)/gridPageSize)
	if res.Page > res.Pages {
		res.Page = res.Pages
	}
	lo := (res.Page - 1) * gridPageSize
	res.Rest = rest[lo:min(len(rest), lo+gridPageSize)]
	if len(res.Guards) > guardsMax {
		res.Guards = res.Guards[:guardsMax]
	}
	return res
}

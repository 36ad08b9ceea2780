package web

import (
	"sort"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Verdict says whether one Basic dependency survives Basic being turned off.
type Verdict string

const (
	// VerdictReady: an XOAUTH2 check for the same target and protocol works.
	VerdictReady Verdict = "ready"
	// VerdictNoXOAUTH2: no XOAUTH2 check is configured for that protocol
	// (or only a posture one, expect: fail): nothing shows OAuth would work.
	VerdictNoXOAUTH2 Verdict = "no_xoauth2_check"
	// VerdictXOAUTH2Failing: the XOAUTH2 check exists and fails.
	VerdictXOAUTH2Failing Verdict = "xoauth2_failing"
	// VerdictXOAUTH2Pending: the XOAUTH2 check has no confirmed outcome yet.
	VerdictXOAUTH2Pending Verdict = "xoauth2_pending"
)

// ReadinessItem is one target × protocol that depends on Basic auth: a
// Basic check expected to log in.
type ReadinessItem struct {
	Target     string            `json:"target"`
	User       string            `json:"user,omitempty"`
	Protocol   probe.Protocol    `json:"protocol"`
	BasicCheck scheduler.CheckID `json:"basic_check"`
	// BasicStatus and BasicCause: how the Basic login fares today.
	BasicStatus scheduler.Status `json:"basic_status"`
	BasicCause  diagnose.Cause   `json:"basic_cause,omitempty"`
	// XOAUTH2Check is the expect: ok XOAUTH2 check for the same target
	// and protocol ("" when none).
	XOAUTH2Check  scheduler.CheckID `json:"xoauth2_check,omitempty"`
	XOAUTH2Status scheduler.Status  `json:"xoauth2_status,omitempty"`
	XOAUTH2Cause  diagnose.Cause    `json:"xoauth2_cause,omitempty"`
	Verdict       Verdict           `json:"verdict"`
	// Breaks is true when turning Basic off would leave this target and
	// protocol without a login known to work.
	Breaks bool `json:"breaks"`
}

// Readiness is GET /api/v1/readiness: what breaks when Microsoft turns
// Basic authentication off.
type Readiness struct {
	Time time.Time `json:"time"`
	// Ready is true when nothing breaks.
	Ready bool `json:"ready"`
	// Targets counts configured targets; Dependencies the target ×
	// protocol pairs with a Basic check expected to work; Breaking those
	// of them without a working XOAUTH2 path.
	Targets      int             `json:"targets"`
	Dependencies int             `json:"dependencies"`
	Breaking     int             `json:"breaking"`
	Items        []ReadinessItem `json:"items"`
	// TenantBasicSignIns: from tenant reads, users and devices that logged
	// in with Basic SMTP, IMAP or POP that no check covers (web/tenants.go).
	TenantBasicSignIns []TenantBasicSignIn `json:"tenant_basic_signins,omitempty"`
}

// ComputeReadiness finds, among the checks, every target that depends on
// Basic auth (a basic check with expect: ok) and whether a working XOAUTH2
// check (expect: ok, confirmed ok) covers the same protocol. Posture
// checks (basic, expect: fail) are not dependencies: they watch that Basic
// stays off.
func ComputeReadiness(checks []scheduler.CheckState, now time.Time) Readiness {
	type key struct {
		target string
		proto  probe.Protocol
	}
	// Indexes, not copies: at fleet scale a map of whole states costs more
	// than everything else the status page does.
	oauth := map[key]int{}
	targets := map[string]bool{}
	for i := range checks {
		st := &checks[i]
		targets[st.Target] = true
		if st.Mechanism == probe.XOAUTH2 && st.Expect != scheduler.ExpectFail {
			oauth[key{st.Target, st.Protocol}] = i
		}
	}
	r := Readiness{Time: now.UTC(), Targets: len(targets), Items: []ReadinessItem{}}
	for i := range checks {
		st := &checks[i]
		if st.Mechanism != probe.Basic || st.Expect == scheduler.ExpectFail {
			continue
		}
		it := ReadinessItem{Target: st.Target, User: st.User, Protocol: st.Protocol, BasicCheck: st.ID,
			BasicStatus: st.Status, BasicCause: st.Cause}
		oi, ok := oauth[key{st.Target, st.Protocol}]
		var o *scheduler.CheckState
		if ok {
			o = &checks[oi]
		}
		switch {
		case !ok:
			it.Verdict = VerdictNoXOAUTH2
		case o.Status == scheduler.StatusOK:
			it.Verdict = VerdictReady
		case o.Status == scheduler.StatusPending || o.Status == "":
			it.Verdict = VerdictXOAUTH2Pending
		default:
			it.Verdict = VerdictXOAUTH2Failing
		}
		if ok {
			it.XOAUTH2Check, it.XOAUTH2Status, it.XOAUTH2Cause = o.ID, o.Status, o.Cause
			if it.XOAUTH2Status == "" {
				it.XOAUTH2Status = scheduler.StatusPending
			}
		}
		it.Breaks = it.Verdict != VerdictReady
		r.Dependencies++
		if it.Breaks {
			r.Breaking++
		}
		r.Items = append(r.Items, it)
	}
	// Breaking first: that is the list to act on.
	sort.SliceStable(r.Items, func(i, j int) bool {
		a, b := r.Items[i], r.Items[j]
		if a.Breaks != b.Breaks {
			return a.Breaks
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Protocol < b.Protocol
	})
	r.Ready = r.Breaking == 0
	return r
}

// Package scheduler runs every configured Check on its own interval, keeps
// each check's state (expectation, cause, since, counts), turns confirmed
// changes of outcome into regression events, and protects accounts and hosts
// from exoprobe itself: a global and a per-host concurrency limit, a lockout
// guard on failed Basic logins, and Exchange's throttling backoff.
//
// The types in this file are the contract that the HTTP surface (package
// web), the alerts and the store build on: extend them, do not rename.
package scheduler

import (
	"context"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// CheckID names a check stably across restarts and reloads:
// "target/protocol/mechanism".
type CheckID string

// MakeID builds the id of a check.
func MakeID(target string, p probe.Protocol, m probe.Mechanism) CheckID {
	return CheckID(target + "/" + string(p) + "/" + string(m))
}

// Split returns the parts of an id; ok is false when it is malformed.
func (id CheckID) Split() (target string, p probe.Protocol, m probe.Mechanism, ok bool) {
	s := string(id)
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", "", "", false
	}
	j := strings.LastIndexByte(s[:i], '/')
	if j < 0 {
		return "", "", "", false
	}
	return s[:j], probe.Protocol(s[j+1 : i]), probe.Mechanism(s[i+1:]), true
}

// Expectation is what a check should do.
type Expectation string

const (
	ExpectOK   Expectation = "ok"
	ExpectFail Expectation = "fail" // posture: e.g. Basic IMAP must stay off
)

// Status is a check's confirmed standing against its expectation.
type Status string

const (
	// StatusPending: no confirmed outcome yet.
	StatusPending Status = "pending"
	// StatusOK: the check meets its expectation (an expect: fail check
	// that fails is OK).
	StatusOK Status = "ok"
	// StatusFailing: an expect: ok check fails.
	StatusFailing Status = "failing"
	// StatusUnexpectedlyOK: an expect: fail check logs in.
	StatusUnexpectedlyOK Status = "unexpectedly_ok"
	// StatusUnverified: an expect: fail check is refused, but for a reason
	// that does not prove the posture (diagnose.PostureProof): a local
	// fault, the network, a timeout, a wrong password. Nothing was verified.
	StatusUnverified Status = "unverified"
	// StatusElsewhere: in a cluster, another member owns and runs the
	// check (CheckState.Remote). Its state, history and metrics are on that
	// member; this one shows only the configured check and where it runs.
	StatusElsewhere Status = "elsewhere"
)

// GuardState is the lockout guard's view of one account: how many failed
// Basic logins exoprobe made in the sliding window (every refusal after the
// credentials were sent, unless its cause says the password was not the
// problem: see lockoutFailure), and until when Basic attempts are held back.
type GuardState struct {
	Account string `json:"account"`
	// Active is true while Basic attempts for the account are held back.
	Active bool `json:"active"`
	// Failures are the times of failed Basic logins inside the window.
	Failures []time.Time `json:"failures,omitempty"`
	// Until is when the next Basic attempt may run (zero when not active).
	Until time.Time `json:"until,omitempty"`
	// Limit and Window: at most Limit failed Basic logins per Window.
	Limit  int           `json:"limit"`
	Window time.Duration `json:"window"`
}

// CheckState is everything known about one check. Snapshot, Query and
// Range return copies of the scheduler's compact per-check summary:
// callers may keep and read them freely, but Labels is shared with the
// scheduler and must not be modified. LastAttempt and LastFinding are only
// filled by Check, which loads them from the store on demand: the
// scheduler does not keep transcripts, evidence or remedies in memory.
type CheckState struct {
	ID     CheckID           `json:"id"`
	Target string            `json:"target"`
	User   string            `json:"user,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// AuthPolicy is the config's auth_policy for the target ("" unknown).
	AuthPolicy string          `json:"auth_policy,omitempty"`
	Protocol   probe.Protocol  `json:"protocol"`
	Mechanism  probe.Mechanism `json:"mechanism"`
	Expect     Expectation     `json:"expect"`
	Status     Status          `json:"status"`
	// Cause is the confirmed cause (diagnose.CauseOK when logging in works);
	// empty while pending.
	Cause      diagnose.Cause      `json:"cause,omitempty"`
	PrevCause  diagnose.Cause      `json:"prev_cause,omitempty"`
	Confidence diagnose.Confidence `json:"confidence,omitempty"`
	// Since is when the current Status/Cause started (first seen, before
	// the confirm re-probe).
	Since time.Time `json:"since,omitzero"`
	// Last summarizes the latest attempt (nil before the first one).
	Last *AttemptSummary `json:"last,omitempty"`
	// LastAttempt is the latest attempt whose outcome differed from the one
	// before it (or, while nothing changes, one at most an hour old),
	// already redacted by package probe; only Check fills it, from the
	// store. Its Start says which attempt it is.
	LastAttempt *probe.Attempt `json:"last_attempt,omitempty"`
	// LastFinding is the diagnosis of LastAttempt (nil when it was OK and
	// nothing needed explaining), without its remedy: remedies are rendered
	// where they are shown (diagnose.RemedyFor). Only Check fills it.
	LastFinding *diagnose.Finding `json:"last_finding,omitempty"`
	// Consecutive raw outcomes, confirm re-probes included.
	ConsecutiveFailures  int `json:"consecutive_failures"`
	ConsecutiveSuccesses int `json:"consecutive_successes"`
	// Pending names an outcome seen but not yet confirmed ("" when none):
	// the cause a confirm re-probe is checking.
	Pending diagnose.Cause `json:"pending,omitempty"`
	// LastRun is when the latest attempt started; NextRun when the next
	// one is due (a confirm re-probe, throttling or the guard may move it).
	LastRun time.Time `json:"last_run,omitzero"`
	NextRun time.Time `json:"next_run,omitzero"`
	// Interval and Timeout in force for this check.
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"`
	// ThrottledUntil is set while the server asked us to back off.
	ThrottledUntil time.Time `json:"throttled_until,omitzero"`
	// LockoutGuard is the guard's state for this check's account; nil for
	// XOAUTH2 checks and for accounts the guard never saw fail.
	LockoutGuard *GuardState `json:"lockout_guard,omitempty"`
	// Remote is set for a check another cluster member runs (Status
	// elsewhere). A pointer: the published state of every check pays 8
	// bytes for it, not the 88 of its fields.
	Remote *Remote `json:"remote,omitempty"`
}

// Remote is what a cluster member knows of a check another member runs.
type Remote struct {
	// Owner is the member that runs the check; OwnerURL its status page.
	Owner    string `json:"owner"`
	OwnerURL string `json:"owner_url,omitempty"`
	// AnnouncedStatus, AnnouncedCause and AnnouncedSince are the state the
	// cluster last announced for the check (its owner gossips every state
	// change); empty when none was announced (the check has not changed
	// state since the cluster started, or recovered more than a week ago).
	AnnouncedStatus Status         `json:"announced_status,omitempty"`
	AnnouncedCause  diagnose.Cause `json:"announced_cause,omitempty"`
	AnnouncedSince  time.Time      `json:"announced_since,omitzero"`
}

// AttemptSummary is what the scheduler keeps in memory of a check's latest
// attempt: enough for metrics, lists and the status page's one line, not
// the transcript.
type AttemptSummary struct {
	Start    time.Time       `json:"start"`
	OK       bool            `json:"ok"`
	Stage    probe.Stage     `json:"stage,omitempty"`
	Duration time.Duration   `json:"duration"`
	Error    probe.ErrorKind `json:"error_kind,omitempty"`
	// Words are the server's final words (else the token endpoint's or the
	// local error), truncated; empty for a login that worked.
	Words string `json:"words,omitempty"`
	// Timings per stage, in the order the stages ran.
	Timings []probe.StageTiming `json:"timings,omitempty"`
	// TokenExpiry of the access token an XOAUTH2 attempt used.
	TokenExpiry time.Time `json:"token_expiry,omitzero"`
	// AppID and Tenant of that token, to fill remedies.
	AppID  string `json:"app_id,omitempty"`
	Tenant string `json:"tenant_id,omitempty"`
}

// EventKind is what changed.
type EventKind string

const (
	// EventRegressed: the check left its expectation (an expect: ok check
	// started failing).
	EventRegressed EventKind = "regressed"
	// EventCauseChanged: still failing, for a different cause.
	EventCauseChanged EventKind = "cause_changed"
	// EventRecovered: back to its expectation.
	EventRecovered EventKind = "recovered"
	// EventUnexpectedlyOK: an expect: fail check (e.g. Basic IMAP that must
	// stay off) logged in. A security posture event.
	EventUnexpectedlyOK EventKind = "unexpectedly_ok"
	// EventPostureUnverified: an expect: fail check has been refused, for
	// a confirmed while, only for reasons that prove nothing about the
	// posture it watches (StatusUnverified).
	EventPostureUnverified EventKind = "posture_unverified"
)

// Event is one confirmed change of a check. Its identity is the cause, never
// the server's raw words: a new trace id in a reply is not a new event.
type Event struct {
	// ID is unique and sorts by time (ULID).
	ID      string            `json:"id"`
	Time    time.Time         `json:"time"`
	Kind    EventKind         `json:"kind"`
	CheckID CheckID           `json:"check_id"`
	Target  string            `json:"target"`
	User    string            `json:"user,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// AuthPolicy is the config's auth_policy for the target ("" unknown).
	AuthPolicy string          `json:"auth_policy,omitempty"`
	Protocol   probe.Protocol  `json:"protocol"`
	Mechanism  probe.Mechanism `json:"mechanism"`
	Expect     Expectation     `json:"expect"`
	Cause      diagnose.Cause  `json:"cause"`
	PrevCause  diagnose.Cause  `json:"prev_cause,omitempty"`
	// Since is when the new state was first seen.
	Since time.Time `json:"since"`
	// Reply is the server's words from the confirming attempt (redacted).
	Reply   string            `json:"reply,omitempty"`
	Finding *diagnose.Finding `json:"finding,omitempty"`
	// Handover, in a cluster, marks an event that records a change of the
	// check's owner, not of its state (Kind and Cause are its state).
	Handover Handover `json:"handover,omitempty"`
}

// HistoryEntry is one attempt of a check as kept in the bounded history.
type HistoryEntry struct {
	Time       time.Time           `json:"t"`
	OK         bool                `json:"ok"`
	Cause      diagnose.Cause      `json:"cause,omitempty"`
	Confidence diagnose.Confidence `json:"conf,omitempty"`
	Stage      probe.Stage         `json:"stage,omitempty"`
	Duration   time.Duration       `json:"dur"`
	// Reply is the server's final words, truncated.
	Reply string `json:"reply,omitempty"`
	// Confirm marks a confirm re-probe.
	Confirm bool `json:"confirm,omitempty"`
}

// Prober runs one attempt. The daemon's Prober calls probe.Run; tests use
// fakes. It must return by ctx's deadline and never panic (the scheduler
// recovers anyway, and records the panic as a failed attempt).
type Prober interface {
	Probe(ctx context.Context, c probe.Check) probe.Attempt
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context, c probe.Check) probe.Attempt

func (f ProberFunc) Probe(ctx context.Context, c probe.Check) probe.Attempt { return f(ctx, c) }

// Classifier diagnoses the latest attempts of one target (all its checks:
// comparing Basic with XOAUTH2 on the same mailbox is how generic refusals
// get a cause). The daemon passes diagnose.Classify.
type Classifier func(attempts []probe.Attempt) []diagnose.Finding

// EventSink receives events after they were stored. Emit must not block for
// long: the alerts package queues them in its durable outbox.
type EventSink interface {
	Emit(ev Event)
}

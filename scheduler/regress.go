package scheduler

import (
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
)

// MachineState is the persisted part of a check's regression state
// machine. It is stored as is, so that a restart continues the same
// sequence: no repeated event for a state already known, none missed.
type MachineState struct {
	Expect     Expectation         `json:"expect"`
	Status     Status              `json:"status"`
	Cause      diagnose.Cause      `json:"cause,omitempty"`
	PrevCause  diagnose.Cause      `json:"prev_cause,omitempty"`
	Confidence diagnose.Confidence `json:"confidence,omitempty"`
	Since      time.Time           `json:"since,omitzero"`

	ConsecutiveFailures  int `json:"cf,omitempty"`
	ConsecutiveSuccesses int `json:"cs,omitempty"`

	// Candidate is an outcome that differs from the confirmed one and
	// waits for confirmation and thresholds.
	Candidate *Candidate `json:"candidate,omitempty"`
}

// Candidate is an outcome seen but not yet counted as the check's state.
type Candidate struct {
	OK    bool           `json:"ok"`
	Cause diagnose.Cause `json:"cause"`
	// Weak: the cause could prove an expect: fail check but its evidence
	// does not (diagnose.PostureProof), so it counts as unverified.
	Weak  bool      `json:"weak,omitempty"`
	Since time.Time `json:"since"`
	// Count of observations that agreed after the first one was confirmed
	// (or counting the first when confirmation is off).
	Count int `json:"count"`
}

// Thresholds tune the state machine.
type Thresholds struct {
	// Failure and Success: how many agreeing observations (after the
	// confirm re-probe) make a change of state. Default 1.
	Failure, Success int
	// Confirm: the first observation of a new outcome only asks for a
	// confirm re-probe; it does not count.
	Confirm bool
}

func (t Thresholds) withDefaults() Thresholds {
	if t.Failure < 1 {
		t.Failure = 1
	}
	if t.Success < 1 {
		t.Success = 1
	}
	return t
}

// observation is one attempt reduced to what the machine keys on: the
// outcome and the cause, never the server's words.
type observation struct {
	OK         bool
	Cause      diagnose.Cause
	Confidence diagnose.Confidence
	// Weak: the finding's cause could prove an expect: fail check but its
	// evidence does not (diagnose.PostureProof).
	Weak bool
	Time time.Time
	// Confirm is true for a confirm re-probe.
	Confirm bool
}

// step is what one observation did to the machine.
type step struct {
	// Kind is the event to emit, "" for none.
	Kind EventKind
	// NeedConfirm asks the scheduler for a confirm re-probe soon.
	NeedConfirm bool
}

// meets reports whether an outcome satisfies the expectation. An expect:
// fail check is met only by a refusal whose cause proves it with evidence
// that shows it (diagnose.ProvesPosture, and not weak: see
// diagnose.PostureProof); any other failure leaves it unverified.
func meets(exp Expectation, ok bool, cause diagnose.Cause, weak bool) bool {
	if exp == ExpectFail {
		return !ok && diagnose.ProvesPosture(cause) && !weak
	}
	return ok
}

// key is the identity of a state: meeting the expectation is one state
// whatever the cause (an expect: fail check refused for another proving
// reason is still fine); an unverified posture is one state whatever the
// cause; failing is one state per cause.
func key(exp Expectation, ok bool, cause diagnose.Cause, weak bool) string {
	switch {
	case meets(exp, ok, cause, weak):
		return "meets"
	case ok:
		return "unexpectedly_ok"
	case exp == ExpectFail:
		return "unverified"
	}
	return "failing:" + string(cause)
}

func (m *MachineState) currentKey() string {
	switch m.Status {
	case StatusOK:
		return "meets"
	case StatusUnexpectedlyOK:
		return "unexpectedly_ok"
	case StatusUnverified:
		return "unverified"
	case StatusFailing:
		return "failing:" + string(m.Cause)
	}
	return ""
}

// Reset forgets everything, for a new or redefined check.
func (m *MachineState) Reset(exp Expectation) {
	*m = MachineState{Expect: exp, Status: StatusPending}
}

// observe feeds one observation and says what happened.
func (m *MachineState) observe(th Thresholds, o observation) step {
	th = th.withDefaults()
	if m.Expect == "" {
		m.Expect = ExpectOK
	}
	if m.Status == "" {
		m.Status = StatusPending
	}
	if o.OK {
		m.ConsecutiveSuccesses++
		m.ConsecutiveFailures = 0
	} else {
		m.ConsecutiveFailures++
		m.ConsecutiveSuccesses = 0
	}
	k := key(m.Expect, o.OK, o.Cause, o.Weak)
	if k == m.currentKey() {
		// Back to (or still in) the confirmed state: whatever was pending
		// was a blip.
		m.Candidate = nil
		if m.Cause != o.Cause || m.Confidence != o.Confidence {
			// Only possible while meeting the expectation (e.g. an
			// expect: fail check refused for another proving reason) or
			// while unverified: worth showing, not worth an event.
			m.Cause, m.Confidence = o.Cause, o.Confidence
		}
		return step{}
	}
	isMeets := meets(m.Expect, o.OK, o.Cause, o.Weak)
	if m.Status == StatusPending && isMeets {
		// A first outcome that meets the expectation is the baseline: no
		// event, nothing to confirm.
		m.Status, m.Cause, m.Confidence, m.Since = StatusOK, o.Cause, o.Confidence, o.Time
		m.Candidate = nil
		return step{}
	}
	c := m.Candidate
	if c == nil || key(m.Expect, c.OK, c.Cause, c.Weak) != k {
		c = &Candidate{OK: o.OK, Cause: o.Cause, Weak: o.Weak, Since: o.Time}
		m.Candidate = c
		if th.Confirm {
			// Even when this was a confirm re-probe: it saw a third
			// outcome, which needs its own confirmation.
			return step{NeedConfirm: true}
		}
	}
	c.Count++
	need := th.Failure
	if isMeets {
		need = th.Success
	}
	if c.Count < need {
		return step{}
	}
	prev := m.Status
	var kind EventKind
	switch {
	case isMeets:
		m.Status = StatusOK
		if prev != StatusPending {
			kind = EventRecovered
		}
	case o.OK: // expect: fail and it logged in
		m.Status = StatusUnexpectedlyOK
		kind = EventUnexpectedlyOK
	case m.Expect == ExpectFail: // refused, but nothing proved
		m.Status = StatusUnverified
		kind = EventPostureUnverified
	default:
		m.Status = StatusFailing
		kind = EventRegressed
		if prev == StatusFailing {
			kind = EventCauseChanged
		}
	}
	m.PrevCause, m.Cause, m.Confidence, m.Since = m.Cause, c.Cause, o.Confidence, c.Since
	m.Candidate = nil
	return step{Kind: kind}
}

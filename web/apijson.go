package web

import (
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The JSON APIs count durations in seconds (floats), as Prometheus and the
// rest of exoprobe do, and times in RFC 3339. The scheduler's and probe's
// types keep time.Duration (nanoseconds in their JSON, which the store
// persists), so the API wraps them: each wrapper hides the nanosecond field
// with a shallower field of the same JSON name that is always omitted
// (encoding/json lets the shallower field win and omitempty drops it), and
// adds the *_seconds field beside it.
type hidden = *struct{}

// CheckJSON is a check's state in the API.
type CheckJSON struct {
	scheduler.CheckState
	Interval        hidden  `json:"interval,omitempty"`
	Timeout         hidden  `json:"timeout,omitempty"`
	IntervalSeconds float64 `json:"interval_seconds"`
	TimeoutSeconds  float64 `json:"timeout_seconds"`
	// LastDurationSeconds is the latest attempt's duration.
	LastDurationSeconds float64      `json:"last_duration_seconds,omitempty"`
	Last                *summaryJSON `json:"last,omitempty"`
	LastAttempt         *AttemptJSON `json:"last_attempt,omitempty"`
	LockoutGuard        *guardJSON   `json:"lockout_guard,omitempty"`
}

type summaryJSON struct {
	scheduler.AttemptSummary
	Duration        hidden  `json:"duration,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// AttemptJSON is a probe attempt in the API.
type AttemptJSON struct {
	probe.Attempt
	Duration        hidden            `json:"duration,omitempty"`
	DurationSeconds float64           `json:"duration_seconds"`
	Timings         []stageTimingJSON `json:"timings,omitempty"`
}

type stageTimingJSON struct {
	Stage           probe.Stage `json:"stage"`
	DurationSeconds float64     `json:"duration_seconds"`
}

type guardJSON struct {
	scheduler.GuardState
	Window        hidden  `json:"window,omitempty"`
	WindowSeconds float64 `json:"window_seconds"`
}

func checkJSON(st scheduler.CheckState) CheckJSON {
	c := CheckJSON{CheckState: st, IntervalSeconds: st.Interval.Seconds(), TimeoutSeconds: st.Timeout.Seconds()}
	if s := st.Last; s != nil {
		c.Last = &summaryJSON{AttemptSummary: *s, DurationSeconds: s.Duration.Seconds()}
		c.LastDurationSeconds = s.Duration.Seconds()
	}
	if a := st.LastAttempt; a != nil {
		aj := attemptJSON(a)
		c.LastAttempt = &aj
		if st.Last == nil {
			c.LastDurationSeconds = a.Duration.Seconds()
		}
	}
	if g := st.LockoutGuard; g != nil {
		c.LockoutGuard = &guardJSON{GuardState: *g, WindowSeconds: g.Window.Seconds()}
	}
	return c
}

func attemptJSON(a *probe.Attempt) AttemptJSON {
	aj := AttemptJSON{Attempt: *a, DurationSeconds: a.Duration.Seconds()}
	for _, t := range a.Timings {
		aj.Timings = append(aj.Timings, stageTimingJSON{Stage: t.Stage, DurationSeconds: t.Duration.Seconds()})
	}
	return aj
}

// HistoryEntryJSON is a history entry with its duration in seconds.
type HistoryEntryJSON struct {
	scheduler.HistoryEntry
	Duration        hidden  `json:"dur,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

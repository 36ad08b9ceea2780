package demo

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// After a step, every check it expects an event from is probed by an
// attempt that starts after the change: a queued check at once; a check
// whose attempt began before the change is asked again once that attempt
// is over; a check that already ran since the change is left alone. The
// step's events then do not wait for each check's own slot.
func TestPlayerProbeNow(t *testing.T) {
	applied := time.Now()
	var mu sync.Mutex
	asked := map[scheduler.CheckID]int{}
	// "busy" runs an attempt from before the change for its first three
	// asks; "fresh" ran one after the change and stays busy.
	probeNow := func(id scheduler.CheckID) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked[id]++
		switch id {
		case "busy":
			return asked[id] > 3, nil
		case "fresh":
			return false, nil
		}
		return true, nil
	}
	checks := func() []scheduler.CheckState {
		return []scheduler.CheckState{
			{ID: "queued", LastRun: applied.Add(-time.Second)},
			{ID: "busy", LastRun: applied.Add(-time.Second)},
			{ID: "fresh", LastRun: applied.Add(time.Millisecond)},
		}
	}
	p := &Player{ProbeNow: probeNow, Checks: checks, Poll: 5 * time.Millisecond, StepTimeout: 10 * time.Second, Out: &bytes.Buffer{}}
	s := Step{Expect: []Expect{{Check: "queued"}, {Check: "busy"}, {Check: "fresh"}, {Check: "queued"}}}
	if err := p.probeNow(context.Background(), s, applied); err != nil {
		t.Fatal(err)
	}
	if asked["queued"] != 1 || asked["busy"] != 4 || asked["fresh"] != 1 {
		t.Errorf("asked %v, want queued once, busy until it took (4), fresh once", asked)
	}
}

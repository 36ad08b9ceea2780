package main

import (
	"testing"
	"time"
)

// A probe that logs in a little after its slot's start is counted once; a
// second probe in one slot is seen.
func TestPerIntervalCountsSlotsNotBoundaries(t *testing.T) {
	from := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	iv := 20 * time.Second
	var ls []login
	// t0000: slots at from-200ms+k*iv; the first logs in 300 ms late, just
	// inside the window, the others 50-300 ms late: seven logins fall in
	// six intervals.
	slot := from.Add(-200 * time.Millisecond)
	for k, late := range []time.Duration{300, 50, 50, 50, 50, 50, 100} {
		ls = append(ls, login{user: "t0000@contoso.com", ok: true, at: slot.Add(time.Duration(k)*iv + late*time.Millisecond)})
	}
	// t0001: on time, and probed twice in one slot by two members.
	for k := range 6 {
		ls = append(ls, login{user: "t0001@contoso.com", ok: true, at: from.Add(time.Duration(k)*iv + 5*time.Second)})
	}
	ls = append(ls, login{user: "t0001@contoso.com", ok: true, at: from.Add(2*iv + 6*time.Second)})
	s, gap := perInterval(ls, from, from.Add(6*iv), iv, 2)
	if s.min != 1 {
		t.Errorf("a late but single prober counts %.2f per interval", s.min)
	}
	if s.max <= 1 || gap != time.Second {
		t.Errorf("a second probe in one slot: max %.2f, closest gap %v", s.max, gap)
	}
}

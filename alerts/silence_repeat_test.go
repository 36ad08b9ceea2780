package alerts

import (
	"testing"
	"time"
)

func mustMatcher(t *testing.T, s string) Matcher {
	t.Helper()
	mt, err := ParseMatcher(s)
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

// An active silence stops reminders of the checks it matches, and keeps
// them out of the firing list of a later notification of their group;
// once the silence is gone the reminder comes.
func TestSilenceStopsReminders(t *testing.T) {
	m, clk := stepped(t, Sink{Name: "hook", Notifier: NewMemory("hook", "en")})
	m.Emit(regressed("a@muted.example"))
	m.Emit(regressed("b@loud.example"))
	m.step(t)
	clk.add(time.Second) // past GroupWait
	m.step(t)
	if got := m.drain(t, "hook"); len(got) != 2 {
		t.Fatalf("first alerts: %d, want 2", len(got))
	}
	sil := Silence{Matchers: []Matcher{mustMatcher(t, `domain="muted.example"`)}, StartsAt: clk.now(),
		EndsAt: clk.now().Add(10 * time.Hour)}
	if err := m.AddSilence(sil); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Hour) // past the 1h repeat interval, twice
	m.step(t)
	got := m.drain(t, "hook")
	if len(got) != 1 || got[0].Scope != "loud.example" || !got[0].Repeat {
		t.Fatalf("reminders during the silence: %+v, want one for loud.example", got)
	}
	// A new check of the silenced tenant is not notified either.
	m.Emit(regressed("c@muted.example"))
	m.step(t)
	clk.add(time.Second)
	m.step(t)
	got = m.drain(t, "hook")
	if len(got) != 0 {
		t.Fatalf("a check of a silenced tenant was notified: %+v", got)
	}
	// A check the silence does not cover joins the muted group: only it is
	// listed as firing.
	ev := regressed("d@muted.example")
	ev.Labels = map[string]string{"team": "other"}
	if err := m.DeleteSilenceFor(t, sil); err != nil {
		t.Fatal(err)
	}
	if err := m.AddSilence(Silence{Matchers: []Matcher{mustMatcher(t, `domain="muted.example"`), mustMatcher(t, `team="mail"`)},
		StartsAt: clk.now(), EndsAt: clk.now().Add(10 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	m.Emit(ev)
	m.step(t)
	clk.add(time.Second)
	m.step(t)
	got = m.drain(t, "hook")
	if len(got) != 1 || len(got[0].Firing) != 1 || got[0].Firing[0].User != "d@muted.example" {
		t.Fatalf("alert with a muted member: %+v", got)
	}
	// The silences end: the muted checks, still failing, are notified
	// again (c for the first time, so as a new alert, not a reminder).
	for _, s := range m.Silences() {
		if _, err := m.DeleteSilence(s.ID); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(2 * time.Hour)
	m.step(t)
	got = m.drain(t, "hook")
	var muted []Notification
	for i := range got {
		if got[i].Scope == "muted.example" {
			muted = append(muted, got[i])
		}
	}
	if len(muted) != 1 || len(muted[0].Firing) != 3 {
		t.Fatalf("after the silence: %+v", got)
	}
}

// DeleteSilenceFor removes the API silence with s's matchers.
func (m *Manager) DeleteSilenceFor(t *testing.T, s Silence) error {
	t.Helper()
	for _, x := range m.Silences() {
		if len(x.Matchers) == len(s.Matchers) && x.Matchers[0].String() == s.Matchers[0].String() {
			_, err := m.DeleteSilence(x.ID)
			return err
		}
	}
	t.Fatalf("no silence %v", s.Matchers)
	return nil
}

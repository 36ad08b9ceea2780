package alerts

import (
	"testing"
	"time"
)

// Silences from the configuration file mute like API ones: first alerts
// and reminders alike. (With no API silence at all, only the config list
// can be what mutes here.)
func TestConfigSilencesMute(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	clk := &fakeClock{t: time.Now()}
	opt := fastOpts(db, Sink{Name: "hook", Notifier: NewMemory("hook", "en")})
	opt.Now = clk.now
	opt.Silences = []Silence{{ID: "maint", Matchers: []Matcher{mustMatcher(t, `domain="muted.example"`)},
		StartsAt: clk.now().Add(-time.Minute), EndsAt: clk.now().Add(3 * time.Hour), Comment: "maintenance"}}
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Silences(); len(s) != 1 || s[0].Source != "config" {
		t.Fatalf("silences: %+v", s)
	}
	m.Emit(regressed("a@muted.example"))
	m.Emit(regressed("b@loud.example"))
	m.step(t)
	clk.add(time.Second)
	m.step(t)
	got := m.drain(t, "hook")
	if len(got) != 1 || got[0].Scope != "loud.example" {
		t.Fatalf("with a config silence: %+v, want only loud.example", got)
	}
	clk.add(2 * time.Hour) // reminders due; the silence still in force
	m.step(t)
	got = m.drain(t, "hook")
	if len(got) != 1 || got[0].Scope != "loud.example" {
		t.Fatalf("reminders with a config silence: %+v, want only loud.example", got)
	}
	clk.add(2 * time.Hour) // the silence has ended
	m.step(t)
	got = m.drain(t, "hook")
	var muted bool
	for _, n := range got {
		muted = muted || n.Scope == "muted.example"
	}
	if !muted {
		t.Fatalf("after the config silence ended: %+v, want muted.example notified", got)
	}
}

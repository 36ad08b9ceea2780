package tenant

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

var (
	demoOnce sync.Once
	demoJSON []byte
)

// freshDemo returns a deep copy of one Demo() state: key generation is slow
// under -race, so tests share the keys but never the state.
func freshDemo(t testing.TB) *State {
	t.Helper()
	demoOnce.Do(func() {
		b, err := json.Marshal(Demo())
		if err != nil {
			panic(err)
		}
		demoJSON = b
	})
	var s State
	if err := json.Unmarshal(demoJSON, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// fakeClock is a settable clock for Tenant.Now.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

var t0 = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

// newDemoTenant wraps a fresh demo in a Tenant with a fake clock at t0.
func newDemoTenant(t testing.TB) (*Tenant, *State, *fakeClock) {
	s := freshDemo(t)
	clk := &fakeClock{now: t0}
	tn := New(s)
	tn.Now = clk.Now
	return tn, s, clk
}

func pw(s *State, upn string) string { return s.FindUser(upn).Password }

func ptr[T any](v T) *T { return &v }

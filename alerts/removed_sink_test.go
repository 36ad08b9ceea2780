package alerts

import (
	"testing"
)

// A sink that was told of an alert and then left the configuration (or a
// demo restarted with other receivers) cannot be sent its resolve; the
// group must not stay open for it. The sinks still configured get their
// resolve and the group goes.
func TestRemovedSinkDoesNotKeepGroupOpen(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	a, b := NewMemory("a", "en"), NewMemory("b", "en")
	m, err := New(fastOpts(db, Sink{Name: "a", Notifier: a}, Sink{Name: "b", Notifier: b}))
	if err != nil {
		t.Fatal(err)
	}
	stop := running(t, m)
	m.Emit(regressed("x@contoso.com"))
	waitFor(t, "both sinks told", func() bool { return len(a.Received()) == 1 && len(b.Received()) == 1 })
	stop()
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	a2 := NewMemory("a", "en")
	m, err = New(fastOpts(db, Sink{Name: "a", Notifier: a2}))
	if err != nil {
		t.Fatal(err)
	}
	if g := m.Stats().Groups; g != 1 {
		t.Fatalf("%d groups after the restart, want the open one", g)
	}
	running(t, m)
	m.Emit(recovered("x@contoso.com"))
	waitFor(t, "resolve to a and the group gone", func() bool {
		return len(a2.Received()) == 1 && m.Stats().Groups == 0 && m.Stats().Outbox["a"] == 0
	})
	if got := a2.Received()[0].Notification.Status; got != StatusResolved {
		t.Errorf("sink a got %q, want its resolve", got)
	}
}

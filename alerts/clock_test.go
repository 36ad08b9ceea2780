package alerts

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fakeClock is a manager clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stepped is a manager that is never Run: the test drives the router by
// calling step, and reads what a flush queued with drain, so that "nothing
// was sent" is an assertion on the outbox, not a sleep.
func stepped(t *testing.T, sinks ...Sink) (*Manager, *fakeClock) {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	clk := &fakeClock{t: time.Now()}
	opt := fastOpts(db, sinks...)
	opt.Now = clk.now
	m, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return m, clk
}

// step ingests the inbox and flushes due groups.
func (m *Manager) step(t *testing.T) {
	t.Helper()
	if err := m.ingest(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.flush(); err != nil {
		t.Fatal(err)
	}
}

// drain removes and returns what the outbox holds for a sink, oldest first.
func (m *Manager) drain(t *testing.T, sink string) []Notification {
	t.Helper()
	var out []Notification
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox).Bucket([]byte(sink))
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var n Notification
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			out = append(out, n)
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.byName[sink].depth -= len(out)
	m.mu.Unlock()
	return out
}

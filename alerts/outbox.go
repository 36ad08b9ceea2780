package alerts

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/scheduler"
)

// The outbox's buckets in the daemon's database. An event goes into the
// inbox (with the scheduler's commit, or on Emit); the router moves it into
// its group and marks it seen in one transaction; a flush of a group puts one
// notification per sink into that sink's queue in the same transaction as
// the group's new state; the sink's worker deletes a notification only
// after the sink accepted it.
var (
	bInbox    = []byte("alerts_inbox")    // event id → scheduler.Event
	bSeen     = []byte("alerts_seen")     // event id → "" (bounded)
	bGroups   = []byte("alerts_groups")   // group key → group
	bOutbox   = []byte("alerts_outbox")   // sink name → (sequence → Notification)
	bSilences = []byte("alerts_silences") // id → Silence (API silences)
)

// maxSeen bounds the seen-events set: enough to recognise an event replayed
// by Emit after the commit hook (seconds apart), small on disk.
const maxSeen = 20000

func (m *Manager) initDB() error {
	var apiSil []Silence
	err := m.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bInbox, bSeen, bGroups, bOutbox, bSilences} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		out := tx.Bucket(bOutbox)
		for _, s := range m.sinks {
			b, err := out.CreateBucketIfNotExists([]byte(s.Name))
			if err != nil {
				return err
			}
			s.depth = b.Stats().KeyN
		}
		// Queues of sinks no longer configured are kept (a config typo must
		// not drop alerts) but not delivered.
		_ = out.ForEach(func(k, v []byte) error {
			if v == nil && m.byName[string(k)] == nil {
				if n := out.Bucket(k).Stats().KeyN; n > 0 {
					m.log.Warn("alerts: outbox of a sink that is no longer configured", "sink", string(k), "notifications", n)
				}
			}
			return nil
		})
		sb := tx.Bucket(bSilences)
		now := m.now()
		var expired [][]byte
		err := sb.ForEach(func(k, v []byte) error {
			var s Silence
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("silence %s: %w", k, err)
			}
			if !now.Before(s.EndsAt) {
				expired = append(expired, k)
				return nil
			}
			if err := s.validate(); err != nil {
				return fmt.Errorf("silence %s: %w", k, err)
			}
			apiSil = append(apiSil, s)
			return nil
		})
		if err != nil {
			return err
		}
		return deleteKeys(sb, expired)
	})
	if err != nil {
		return fmt.Errorf("alerts: outbox: %w", err)
	}
	m.sil.api = apiSil
	return m.loadGroups()
}

func (m *Manager) loadGroups() error {
	groups := map[string]*group{}
	err := m.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bGroups)
		var empty [][]byte
		err := b.ForEach(func(k, v []byte) error {
			g := &group{}
			if err := json.Unmarshal(v, g); err != nil {
				return fmt.Errorf("group %s: %w", k, err)
			}
			g.init()
			// A sink removed from the config (or a demo restarted with
			// other receivers) can no longer be sent the resolve it is
			// owed; remembering it would keep the group open for ever.
			for name := range g.Sinks {
				if _, ok := m.byName[name]; !ok {
					delete(g.Sinks, name)
				}
			}
			if len(g.Members) == 0 && len(g.Gone) == 0 && !g.anyNotified() {
				empty = append(empty, k)
				return nil
			}
			groups[string(k)] = g
			return nil
		})
		if err != nil {
			return err
		}
		return deleteKeys(b, empty)
	})
	if err != nil {
		return fmt.Errorf("alerts: load groups: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups = groups
	m.index = map[scheduler.CheckID]string{}
	for k, g := range groups {
		for id := range g.Members {
			m.index[id] = k
		}
	}
	return nil
}

// deleteKeys deletes what a ForEach over b collected (bbolt forbids
// deleting inside the ForEach itself).
func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func known(tx *bolt.Tx, id string) bool {
	in, seen := tx.Bucket(bInbox), tx.Bucket(bSeen)
	return (in != nil && in.Get([]byte(id)) != nil) || (seen != nil && seen.Get([]byte(id)) != nil)
}

// putEvent adds an event to the inbox unless it is there or was processed.
func putEvent(tx *bolt.Tx, ev scheduler.Event) error {
	if ev.ID == "" {
		return fmt.Errorf("event of %s has no id", ev.CheckID)
	}
	in, err := tx.CreateBucketIfNotExists(bInbox)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucketIfNotExists(bSeen); err != nil {
		return err
	}
	if known(tx, ev.ID) {
		return nil
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return in.Put([]byte(ev.ID), v)
}

func putSilence(tx *bolt.Tx, s *Silence) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tx.Bucket(bSilences).Put([]byte(s.ID), v)
}

// markSeen records processed events and keeps the set bounded; event ids
// are ULIDs, so the first keys are the oldest.
func markSeen(tx *bolt.Tx, ids [][]byte) error {
	b := tx.Bucket(bSeen)
	for _, id := range ids {
		if err := b.Put(id, []byte{}); err != nil {
			return err
		}
	}
	n := b.Stats().KeyN
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n > maxSeen; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	return nil
}

// enqueue puts a notification in its sink's queue (inside the flush's
// transaction).
func enqueue(tx *bolt.Tx, n *Notification) error {
	b := tx.Bucket(bOutbox).Bucket([]byte(n.Sink))
	if b == nil {
		return fmt.Errorf("no outbox for sink %q", n.Sink)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), v)
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// peek returns the oldest queued notification of a sink.
func (m *Manager) peek(sink string) (key []byte, n Notification, ok bool, err error) {
	err = m.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bOutbox).Bucket([]byte(sink))
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		key, ok = append([]byte(nil), k...), true
		return json.Unmarshal(v, &n)
	})
	return key, n, ok, err
}

func (m *Manager) remove(s *sinkRT, key []byte) error {
	if m.failRemove != nil {
		if err := m.failRemove(); err != nil {
			return err
		}
	}
	err := m.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bOutbox).Bucket([]byte(s.Name)).Delete(key)
	})
	if err == nil {
		m.addDepth(s, -1)
	}
	return err
}

// removeDone deletes a notification the sink is done with (accepted,
// refused for good, or skipped). It retries a failed delete (with the
// sink's backoff) rather than returning to the queue, where the same row
// would be peeked and sent again at once. Only a shutdown leaves the row
// behind; the next start sends it again under the same idempotency key.
func (m *Manager) removeDone(ctx context.Context, s *sinkRT, key []byte, id string) {
	for n := 1; ; n++ {
		err := m.remove(s, key)
		if err == nil {
			return
		}
		delay := m.opt.Backoff.Delay(n, rand.Float64())
		m.log.Error("alerts: done with but not removed from the outbox; retrying the delete", "sink", s.Name,
			"id", id, "try", n, "retry_in", delay.Round(time.Millisecond), "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// skipper is implemented by notifiers that have nothing to send for some
// notifications (PagerDuty and a partial resolve: the incident stays open
// until the last check recovers). The worker drops those without counting
// them as sent.
type skipper interface {
	Skips(n *Notification) bool
}

func (m *Manager) addDepth(s *sinkRT, d int) {
	m.mu.Lock()
	s.depth += d
	v := s.depth
	m.mu.Unlock()
	m.mDepth.WithLabelValues(s.Name).Set(float64(v))
}

// worker delivers one sink's queue in order, one notification at a time,
// so a resolve never overtakes its alert. Retries with capped exponential
// backoff happen here and nowhere else; a sink that is down holds up only
// its own queue.
func (m *Manager) worker(ctx context.Context, s *sinkRT) {
	failures := 0
	for ctx.Err() == nil {
		key, n, ok, err := m.peek(s.Name)
		if err != nil {
			// A corrupt row would block the queue forever: drop it loudly.
			m.log.Error("alerts: unreadable outbox row dropped", "sink", s.Name, "err", err)
			if key != nil {
				_ = m.remove(s, key)
				continue
			}
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		n.remedy = m.opt.Remedy
		if sk, ok := s.Notifier.(skipper); ok && sk.Skips(&n) {
			m.removeDone(ctx, s, key, n.ID)
			m.record(Delivery{Time: m.now(), Sink: s.Name, SinkType: s.Type, NotificationID: n.ID, GroupKey: n.GroupKey, Kind: n.Kind,
				Status: n.Status, Checks: len(n.Firing) + len(n.Resolved), Title: Render(&n, s.Lang).Title,
				OK: true, Skipped: true})
			m.log.Debug("alert not sent: nothing to tell this sink", "sink", s.Name, "id", n.ID, "kind", n.Kind)
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, s.Timeout)
		retry, err := s.Notifier.Notify(tctx, []Notification{n})
		cancel()
		d := Delivery{Time: m.now(), Sink: s.Name, SinkType: s.Type, NotificationID: n.ID, GroupKey: n.GroupKey, Kind: n.Kind,
			Status: n.Status, Checks: len(n.Firing) + len(n.Resolved)}
		c := Render(&n, s.Lang)
		d.Title = c.Title
		if err == nil {
			m.removeDone(ctx, s, key, n.ID)
			m.mSent.WithLabelValues(s.Name, string(n.Kind)).Inc()
			d.OK = true
			m.record(d)
			m.log.Info("alert delivered", "sink", s.Name, "id", n.ID, "kind", n.Kind, "status", n.Status, "checks", d.Checks)
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			// Shutting down mid-delivery: the row stays for the next start;
			// the idempotency key makes a second copy harmless.
			return
		}
		reason := ReasonOf(err)
		d.Reason, d.Error = reason, err.Error()
		m.mFailed.WithLabelValues(s.Name, string(reason)).Inc()
		if !retry {
			d.Final = true
			m.record(d)
			m.log.Error("alert dropped: the sink refused it", "sink", s.Name, "id", n.ID, "reason", reason, "err", err)
			m.removeDone(ctx, s, key, n.ID)
			failures = 0
			continue
		}
		failures++
		delay := m.opt.Backoff.Delay(failures, rand.Float64())
		m.record(d)
		m.log.Warn("alert delivery failed; will retry", "sink", s.Name, "id", n.ID, "reason", reason,
			"try", failures, "retry_in", delay.Round(time.Millisecond), "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

package scheduler

import (
	"slices"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// Record is what survives a restart for one check: its state machine and
// the compact form of its latest attempt (see Compact), which its siblings'
// classification compares against. The full attempt and its finding are a
// Detail. Older stores kept the full attempt and finding here; the
// scheduler compacts what it loads.
type Record struct {
	Machine     MachineState      `json:"m"`
	LastAttempt *probe.Attempt    `json:"a,omitempty"`
	LastFinding *diagnose.Finding `json:"f,omitempty"`
	LastRun     time.Time         `json:"r,omitzero"`
	// ThrottledUntil survives a restart so that a restart loop cannot
	// ignore Exchange's backoff.
	ThrottledUntil time.Time `json:"tu,omitzero"`
}

// Update is one completed attempt's changes, committed atomically: the
// check's record, its history entry, the events it caused, and the lockout
// guard of its account.
//
// Record and Detail are nil when the attempt changed nothing worth
// writing (same outcome, cause and state as the stored ones, stored less
// than RecordRefresh ago): the history entry is then the only write.
type Update struct {
	ID      CheckID
	Record  *Record
	Detail  *Detail
	History *HistoryEntry
	Events  []Event
	Guard   *GuardRecord
}

// Detail is a check's latest attempt in full (transcript, timings, token
// claims) and its finding, without the remedy. The store keeps it apart
// from the Record and it is read on demand (Scheduler.Check).
type Detail struct {
	Attempt *probe.Attempt    `json:"a,omitempty"`
	Finding *diagnose.Finding `json:"f,omitempty"`
}

// DetailStore is a Store that keeps Details.
type DetailStore interface {
	// Detail returns the stored detail of a check (ok false when none).
	Detail(id CheckID) (d Detail, ok bool, err error)
}

// Compact returns the part of an attempt the scheduler keeps in memory for
// classifying the attempt's siblings (diagnose compares outcomes, replies,
// stages and token claims across a target's checks): no transcript, no
// timings, no capabilities (only the attempt being classified uses its
// own), the server's words capped.
func Compact(a *probe.Attempt) *probe.Attempt {
	c := &probe.Attempt{Target: a.Target, User: a.User, Protocol: a.Protocol, Mechanism: a.Mechanism,
		Server: a.Server, Start: a.Start, OK: a.OK, Stage: a.Stage, ErrorKind: a.ErrorKind,
		AuthMethod: a.AuthMethod, Duration: a.Duration}
	if !a.OK {
		c.Reply, c.AuthReply, c.Error = truncate(a.Reply, 512), truncate(a.AuthReply, 512), truncate(a.Error, 512)
	}
	if a.Token != nil {
		t := *a.Token
		t.Description = truncate(t.Description, 512)
		c.Token = &t
	}
	return c
}

// GuardRecord is the lockout guard's persisted memory of one account, so a
// restart loop cannot reset the count of failed Basic logins.
type GuardRecord struct {
	Account  string      `json:"account"`
	Failures []time.Time `json:"failures"`
}

// Store persists the scheduler's state. Package store implements it on
// bbolt; MemStore keeps it in memory.
type Store interface {
	LoadRecords() (map[CheckID]Record, error)
	LoadGuards() (map[string][]time.Time, error)
	// Commit writes a batch in one transaction. Events are handed to
	// sinks only after Commit returned nil.
	Commit(batch []Update) error
	// History returns up to limit entries, newest first.
	History(id CheckID, limit int) ([]HistoryEntry, error)
	// Events returns up to limit events, newest first.
	Events(limit int) ([]Event, error)
}

// Pruner is a Store that can forget checks no longer configured. The
// scheduler calls Prune about hourly with the configured checks: the record
// and history of every other check whose last run is before `before` are
// deleted, and so is the lockout guard's memory of every account whose
// newest failure is before `before`. Events stay: they are the log of what
// happened, bounded by count.
type Pruner interface {
	Prune(keep map[CheckID]bool, before time.Time) (checks int, err error)
}

// MemStore is a Store in memory, bounded like the real one; for tests and
// for running without a data directory.
type MemStore struct {
	mu         sync.Mutex
	records    map[CheckID]Record
	details    map[CheckID]Detail
	guards     map[string][]time.Time
	history    map[CheckID][]HistoryEntry
	events     []Event
	MaxHistory int
	MaxEvents  int
	// Commits counts Commit calls, for tests.
	Commits int
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{records: map[CheckID]Record{}, details: map[CheckID]Detail{}, guards: map[string][]time.Time{},
		history: map[CheckID][]HistoryEntry{}, MaxHistory: 1000, MaxEvents: 1000}
}

func (m *MemStore) LoadRecords() (map[CheckID]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[CheckID]Record, len(m.records))
	for k, v := range m.records {
		out[k] = v
	}
	return out, nil
}

func (m *MemStore) LoadGuards() (map[string][]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]time.Time, len(m.guards))
	for k, v := range m.guards {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

func (m *MemStore) Commit(batch []Update) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Commits++
	for _, u := range batch {
		if u.Record != nil {
			m.records[u.ID] = *u.Record
		}
		if u.Detail != nil {
			m.details[u.ID] = *u.Detail
		}
		if u.History != nil {
			h := append(m.history[u.ID], *u.History)
			if len(h) > m.MaxHistory {
				h = h[len(h)-m.MaxHistory:]
			}
			m.history[u.ID] = h
		}
		m.events = append(m.events, u.Events...)
		if len(m.events) > m.MaxEvents {
			m.events = m.events[len(m.events)-m.MaxEvents:]
		}
		if u.Guard != nil {
			m.guards[u.Guard.Account] = slices.Clone(u.Guard.Failures)
		}
	}
	return nil
}

// Prune implements Pruner.
func (m *MemStore) Prune(keep map[CheckID]bool, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.records {
		if !keep[id] && r.LastRun.Before(before) {
			delete(m.records, id)
			delete(m.details, id)
			delete(m.history, id)
			n++
		}
	}
	for id := range m.history {
		if _, ok := m.records[id]; !ok && !keep[id] {
			delete(m.history, id)
		}
	}
	for acct, f := range m.guards {
		if len(f) == 0 || f[len(f)-1].Before(before) {
			delete(m.guards, acct)
		}
	}
	return n, nil
}

// Detail implements DetailStore.
func (m *MemStore) Detail(id CheckID) (Detail, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.details[id]
	return d, ok, nil
}

func (m *MemStore) History(id CheckID, limit int) ([]HistoryEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return newestFirst(m.history[id], limit), nil
}

func (m *MemStore) Events(limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return newestFirst(m.events, limit), nil
}

func newestFirst[T any](s []T, limit int) []T {
	if limit <= 0 || limit > len(s) {
		limit = len(s)
	}
	out := make([]T, 0, limit)
	for i := len(s) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s[i])
	}
	return out
}

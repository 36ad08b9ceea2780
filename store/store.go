// Package store keeps exoprobe's state across restarts in one bbolt file
// under --data-dir: each check's state machine and last attempt, a bounded
// history per check, a bounded events log and the lockout guard's memory.
// Other packages (the alerts outbox) add their own buckets and may write in
// the same transaction as the scheduler's updates through a commit hook, so
// that an event and its outbox row are stored together or not at all.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"

	"github.com/exoprobe/exoprobe/scheduler"
)

// FileName is the database file inside the data directory.
const FileName = "exoprobe.db"

var (
	bChecks  = []byte("checks")
	bDetails = []byte("details")
	bHistory = []byte("history")
	bHCount  = []byte("history_count")
	bEvents  = []byte("events")
	bGuards  = []byte("guards")
	bMeta    = []byte("meta")

	kSchema  = []byte("schema")
	kEventsN = []byte("events_n")
)

const schemaVersion = "1"

// Options bound what the store keeps. Zero values mean the defaults.
type Options struct {
	// MaxHistory attempts per check (default 10,000) and MaxHistoryAge
	// (default 7 days): whichever is reached first.
	MaxHistory    int
	MaxHistoryAge time.Duration
	// MaxEvents in the events log (default 10,000).
	MaxEvents int
	// LockTimeout: how long to wait for another process holding the file
	// (bbolt would otherwise block forever). Default 2s.
	LockTimeout time.Duration
	// NoSync skips fsync per commit (tests and benchmarks only).
	NoSync bool
}

func (o *Options) defaults() {
	if o.MaxHistory <= 0 {
		o.MaxHistory = 10000
	}
	if o.MaxHistoryAge <= 0 {
		o.MaxHistoryAge = 7 * 24 * time.Hour
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 10000
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
}

// ErrLocked means another process has the database open.
var ErrLocked = errors.New("store: database is in use by another process")

// CommitHook runs inside the scheduler's commit transaction, after the
// store wrote the batch; an error rolls the whole batch back.
type CommitHook func(tx *bolt.Tx, batch []scheduler.Update) error

// DB is the store. It implements scheduler.Store.
type DB struct {
	db   *bolt.DB
	opt  Options
	path string

	hookMu sync.RWMutex
	hooks  []CommitHook

	histBytes   atomic.Int64
	histRecords atomic.Int64
	commits     atomic.Int64
	// released is when releaseMapped last ran (Unix ns).
	released atomic.Int64
}

var (
	_ scheduler.Store       = (*DB)(nil)
	_ scheduler.Pruner      = (*DB)(nil)
	_ scheduler.DetailStore = (*DB)(nil)
)

// Open opens (creating if needed) the store in dir.
func Open(dir string, opt Options) (*DB, error) {
	opt.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout, NoSync: opt.NoSync,
		FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterr.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (lock not obtained within %v)", ErrLocked, path, opt.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &DB{db: db, opt: opt, path: path}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bChecks, bDetails, bHistory, bHCount, bEvents, bGuards, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		if v := m.Get(kSchema); v == nil {
			return m.Put(kSchema, []byte(schemaVersion))
		} else if string(v) != schemaVersion {
			return fmt.Errorf("schema version %q, this exoprobe knows %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *DB) Close() error { return s.db.Close() }

// Path of the database file.
func (s *DB) Path() string { return s.path }

// Bolt exposes the database for packages with their own buckets.
func (s *DB) Bolt() *bolt.DB { return s.db }

// EnsureBucket creates a top-level bucket for another package (e.g.
// "alerts_outbox").
func (s *DB) EnsureBucket(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(name))
		return err
	})
}

// Update and View run fn in a read-write or read-only transaction.
func (s *DB) Update(fn func(tx *bolt.Tx) error) error { return s.db.Update(fn) }
func (s *DB) View(fn func(tx *bolt.Tx) error) error   { return s.db.View(fn) }

// OnCommit registers a hook run inside every scheduler commit.
func (s *DB) OnCommit(h CommitHook) {
	s.hookMu.Lock()
	s.hooks = append(s.hooks, h)
	s.hookMu.Unlock()
}

// LoadRecords returns every check's stored record.
func (s *DB) LoadRecords() (map[scheduler.CheckID]scheduler.Record, error) {
	out := map[scheduler.CheckID]scheduler.Record{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bChecks).ForEach(func(k, v []byte) error {
			var r scheduler.Record
			if err := decodeValue(v, &r); err != nil {
				return fmt.Errorf("check %s: %w", k, err)
			}
			out[scheduler.CheckID(k)] = r
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load records: %w", err)
	}
	return out, nil
}

// LoadGuards returns the lockout guard's failures per account.
func (s *DB) LoadGuards() (map[string][]time.Time, error) {
	out := map[string][]time.Time{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bGuards).ForEach(func(k, v []byte) error {
			var f []time.Time
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("guard %s: %w", k, err)
			}
			out[string(k)] = f
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load guards: %w", err)
	}
	return out, nil
}

// Commit writes a batch of updates in one transaction.
func (s *DB) Commit(batch []scheduler.Update) error {
	var histBytes, histN int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		checks, hist, hcount, events, guards, meta := tx.Bucket(bChecks), tx.Bucket(bHistory),
			tx.Bucket(bHCount), tx.Bucket(bEvents), tx.Bucket(bGuards), tx.Bucket(bMeta)
		details := tx.Bucket(bDetails)
		evN := getU64(meta.Get(kEventsN))
		for _, u := range batch {
			id := []byte(u.ID)
			if u.Record != nil {
				v, err := encodeValue(u.Record)
				if err != nil {
					return fmt.Errorf("check %s: %w", u.ID, err)
				}
				if err := checks.Put(id, v); err != nil {
					return err
				}
			}
			if u.Detail != nil {
				v, err := encodeValue(u.Detail)
				if err != nil {
					return fmt.Errorf("check %s: %w", u.ID, err)
				}
				if err := details.Put(id, v); err != nil {
					return err
				}
			}
			if u.History != nil {
				n, err := s.addHistory(hist, hcount, id, u.History)
				if err != nil {
					return fmt.Errorf("history %s: %w", u.ID, err)
				}
				histBytes += int64(n)
				histN++
			}
			for _, ev := range u.Events {
				v, err := json.Marshal(ev)
				if err != nil {
					return err
				}
				if events.Get([]byte(ev.ID)) == nil {
					evN++
				}
				if err := events.Put([]byte(ev.ID), v); err != nil {
					return err
				}
			}
			if u.Guard != nil {
				v, err := json.Marshal(u.Guard.Failures)
				if err != nil {
					return err
				}
				if err := guards.Put([]byte(u.Guard.Account), v); err != nil {
					return err
				}
			}
		}
		if evN > uint64(s.opt.MaxEvents) {
			c := events.Cursor()
			for k, _ := c.First(); k != nil && evN > uint64(s.opt.MaxEvents); k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				evN--
			}
		}
		if err := meta.Put(kEventsN, putU64(evN)); err != nil {
			return err
		}
		s.hookMu.RLock()
		defer s.hookMu.RUnlock()
		for _, h := range s.hooks {
			if err := h(tx, batch); err != nil {
				return fmt.Errorf("commit hook: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: commit %d updates: %w", len(batch), err)
	}
	s.commits.Add(1)
	s.histBytes.Add(histBytes)
	s.histRecords.Add(histN)
	if now := time.Now().UnixNano(); now-s.released.Load() >= int64(releaseEvery) {
		s.released.Store(now)
		releaseMapped(s.db)
	}
	return nil
}

// releaseEvery paces releaseMapped: about once per group commit. bbolt
// reads every page on the path to what a commit changes, and whole leaves
// to rewrite them: at 60,000 checks and 240 probes a second that was
// 30 MiB of pages a second (released once a second, the file-backed RSS
// still rose to 60 MiB between two calls). The call walks the mapping's
// page table (about 25,000 entries at 60,000 checks): tens of µs.
const releaseEvery = 100 * time.Millisecond

// Prune implements scheduler.Pruner: it deletes the record, history and
// history count of every check not in keep that last ran before `before`
// (and history left without a record), and the guard memory of accounts
// whose newest failure is before `before`.
func (s *DB) Prune(keep map[scheduler.CheckID]bool, before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		checks, hist, hcount, guards := tx.Bucket(bChecks), tx.Bucket(bHistory), tx.Bucket(bHCount), tx.Bucket(bGuards)
		// bbolt forbids deleting while iterating: collect, then delete.
		var drop [][]byte
		err := checks.ForEach(func(k, v []byte) error {
			if keep[scheduler.CheckID(k)] {
				return nil
			}
			var r struct {
				LastRun time.Time `json:"r"`
			}
			if err := decodeValue(v, &r); err != nil {
				return fmt.Errorf("check %s: %w", k, err)
			}
			if r.LastRun.Before(before) {
				drop = append(drop, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := checks.Delete(k); err != nil {
				return err
			}
			if err := tx.Bucket(bDetails).Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		drop = drop[:0]
		err = hist.ForEach(func(k, _ []byte) error {
			if !keep[scheduler.CheckID(k)] && checks.Get(k) == nil {
				drop = append(drop, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := hist.DeleteBucket(k); err != nil && !errors.Is(err, bolterr.ErrBucketNotFound) {
				return err
			}
			if err := hcount.Delete(k); err != nil {
				return err
			}
		}
		drop = drop[:0]
		err = guards.ForEach(func(k, v []byte) error {
			var f []time.Time
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("guard %s: %w", k, err)
			}
			if len(f) == 0 || f[len(f)-1].Before(before) {
				drop = append(drop, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := guards.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune: %w", err)
	}
	return n, nil
}

// addHistory appends one entry and prunes the check's history by count and
// age. It returns the bytes written (key + value).
func (s *DB) addHistory(hist, hcount *bolt.Bucket, id []byte, h *scheduler.HistoryEntry) (int, error) {
	b, err := hist.CreateBucketIfNotExists(id)
	if err != nil {
		return 0, err
	}
	// Entries arrive in time order: full pages, not bbolt's default half
	// pages for random inserts.
	b.FillPercent = 1.0
	key := make([]byte, 8)
	binary.BigEndian.PutUint64(key, uint64(h.Time.UnixNano()))
	c0 := b.Cursor()
	if lk, _ := c0.Last(); lk != nil && bytes.Compare(key, lk[:min(len(lk), 8)]) <= 0 {
		// Two attempts of one check in the same nanosecond (a fake clock)
		// or the clock stepped back: keep both, after the newest.
		binary.BigEndian.PutUint64(key, binary.BigEndian.Uint64(lk)+1)
	}
	// A new slice each time: bbolt keeps the value until the commit.
	v := encodeHistory(make([]byte, 0, 48+len(h.Reply)), h)
	if err := b.Put(key, v); err != nil {
		return 0, err
	}
	// The count lives in the check's own bucket (its sequence), which
	// this Put rewrites anyway: a separate history_count entry made every
	// attempt change, and so read and copy, one more leaf and its branch
	// pages. Stores written before keep it there until the check's next
	// attempt moves it.
	n := b.Sequence()
	if n == 0 {
		if old := getU64(hcount.Get(id)); old > 0 {
			n = old
			if err := hcount.Delete(id); err != nil {
				return 0, err
			}
		}
	}
	n++
	cut := uint64(h.Time.Add(-s.opt.MaxHistoryAge).UnixNano())
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		if n <= uint64(s.opt.MaxHistory) && binary.BigEndian.Uint64(k) >= cut {
			break
		}
		if err := c.Delete(); err != nil {
			return 0, err
		}
		n--
	}
	return len(key) + len(v), b.SetSequence(n)
}

// Detail implements scheduler.DetailStore.
func (s *DB) Detail(id scheduler.CheckID) (scheduler.Detail, bool, error) {
	var d scheduler.Detail
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bDetails).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return decodeValue(v, &d)
	})
	if err != nil {
		return d, false, fmt.Errorf("store: detail %s: %w", id, err)
	}
	return d, found, nil
}

// History returns up to limit entries of a check, newest first.
func (s *DB) History(id scheduler.CheckID, limit int) ([]scheduler.HistoryEntry, error) {
	var out []scheduler.HistoryEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bHistory).Bucket([]byte(id))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			h, err := decodeHistory(k, v)
			if err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: history %s: %w", id, err)
	}
	return out, nil
}

// Events returns up to limit events, newest first.
func (s *DB) Events(limit int) ([]scheduler.Event, error) {
	var out []scheduler.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var ev scheduler.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// Stats are the store's figures, for metrics and the benchmark.
type Stats struct {
	FileBytes int64 `json:"file_bytes"`
	Commits   int64 `json:"commits"`
	// HistoryRecords written since open and their bytes (key + value):
	// HistoryBytesPerRecord is the average.
	HistoryRecords        int64   `json:"history_records"`
	HistoryBytes          int64   `json:"history_bytes"`
	HistoryBytesPerRecord float64 `json:"history_bytes_per_record"`
}

// Stats returns the current figures.
func (s *DB) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), HistoryRecords: s.histRecords.Load(), HistoryBytes: s.histBytes.Load()}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	if st.HistoryRecords > 0 {
		st.HistoryBytesPerRecord = float64(st.HistoryBytes) / float64(st.HistoryRecords)
	}
	return st
}

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func putU64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

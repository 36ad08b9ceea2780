package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// defaultStateDir is where the daemon keeps the lockout guard's record when
// it runs without --data-dir: $XDG_STATE_HOME/exoprobe, else
// ~/.local/state/exoprobe (the XDG base directory spec's state home).
func defaultStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "exoprobe"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("no state directory: neither $XDG_STATE_HOME nor a home directory is set")
	}
	return filepath.Join(home, ".local", "state", "exoprobe"), nil
}

// guardFile is the file, in the state directory, that holds the guard's
// record: account → times of recent failed Basic logins.
const guardFile = "lockout-guard.json"

// guardFileStore keeps the scheduler's state in memory, as without
// --data-dir, except the lockout guard's record, which it writes to a file
// on every change: a restart loop must not reset the count of failed
// logins (Entra locks an account at 10; the guard allows 3 an hour).
type guardFileStore struct {
	*scheduler.MemStore
	path string
	mu   sync.Mutex // one writer of the file at a time
}

// openGuardFileStore makes dir (0700) and checks the file can be read and
// written, so that a state that cannot be kept is known at start.
func openGuardFileStore(dir string) (*guardFileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	s := &guardFileStore{MemStore: scheduler.NewMemStore(), path: filepath.Join(dir, guardFile)}
	gs, err := s.read()
	if err != nil {
		return nil, err
	}
	if err := s.MemStore.Commit(guardUpdates(gs)); err != nil {
		return nil, err
	}
	if err := s.write(); err != nil {
		return nil, err
	}
	return s, nil
}

func guardUpdates(gs map[string][]time.Time) []scheduler.Update {
	var us []scheduler.Update
	for acct, f := range gs {
		us = append(us, scheduler.Update{ID: scheduler.CheckID("guard:" + acct),
			Guard: &scheduler.GuardRecord{Account: acct, Failures: f}})
	}
	return us
}

func (s *guardFileStore) read() (map[string][]time.Time, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]time.Time{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lockout guard state: %w", err)
	}
	gs := map[string][]time.Time{}
	if err := json.Unmarshal(b, &gs); err != nil {
		return nil, fmt.Errorf("lockout guard state %s: %w (delete the file only if no Basic check failed in the last guard window)", s.path, err)
	}
	return gs, nil
}

// write replaces the file atomically (temporary file, fsync, rename).
func (s *guardFileStore) write() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	gs, err := s.MemStore.LoadGuards()
	if err != nil {
		return err
	}
	b, err := json.Marshal(gs)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".lockout-guard-*")
	if err != nil {
		return fmt.Errorf("lockout guard state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("lockout guard state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("lockout guard state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("lockout guard state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("lockout guard state: %w", err)
	}
	return nil
}

// LoadRecords: the placeholder records that carried the guard in are not
// checks.
func (s *guardFileStore) LoadRecords() (map[scheduler.CheckID]scheduler.Record, error) {
	return map[scheduler.CheckID]scheduler.Record{}, nil
}

// Commit keeps everything in memory and writes the guard's record when
// the batch changed it; an error (disk full) reaches the scheduler.
func (s *guardFileStore) Commit(batch []scheduler.Update) error {
	if err := s.MemStore.Commit(batch); err != nil {
		return err
	}
	for _, u := range batch {
		if u.Guard != nil {
			return s.write()
		}
	}
	return nil
}

// Prune implements scheduler.Pruner and writes the pruned record.
func (s *guardFileStore) Prune(keep map[scheduler.CheckID]bool, before time.Time) (int, error) {
	n, err := s.MemStore.Prune(keep, before)
	if err != nil {
		return n, err
	}
	return n, s.write()
}

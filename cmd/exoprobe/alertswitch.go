package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/scheduler"
)

// alertSwitch runs the alert manager and replaces it when a reload
// changes the alerts section: the running one stops (its outbox, groups
// and API silences are in the store), a new one is built from the new
// section on the same store and started, exactly as a restart would do,
// without stopping the probes. The scheduler's event sink and commit hook
// go through the switch, so events committed during the swap land in the
// durable inbox and the new manager picks them up.
type alertSwitch struct {
	cur atomic.Pointer[alerts.Manager]

	mu     sync.Mutex // serialises apply and close
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	errc   chan<- error
	// options turns a configuration into manager options; false when
	// its alerts section has no sinks.
	options func(cfg *config.Config) (alerts.Options, bool, error)
}

// Emit implements scheduler.EventSink.
func (s *alertSwitch) Emit(ev scheduler.Event) {
	if m := s.cur.Load(); m != nil {
		m.Emit(ev)
	}
}

// CommitHook is the store's commit hook: a stopped manager's hook writes
// to the inbox all the same, so none is lost while managers change.
func (s *alertSwitch) CommitHook(tx *bolt.Tx, batch []scheduler.Update) error {
	if m := s.cur.Load(); m != nil {
		return m.CommitHook(tx, batch)
	}
	return nil
}

// Manager returns the running manager, nil when alerting is off.
func (s *alertSwitch) Manager() *alerts.Manager { return s.cur.Load() }

// build makes a manager for cfg; nil when the section has no sinks.
func (s *alertSwitch) build(cfg *config.Config) (*alerts.Manager, error) {
	opt, any, err := s.options(cfg)
	if err != nil || !any {
		return nil, err
	}
	return alerts.New(opt)
}

// run makes m the current manager and runs it until stop; the caller
// holds s.mu (or is the daemon starting up) and s.ctx is set.
func (s *alertSwitch) run(m *alerts.Manager) {
	s.cur.Store(m)
	if m == nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	s.cancel, s.done = cancel, done
	go func() {
		defer close(done)
		if err := m.Run(ctx); err != nil {
			select {
			case s.errc <- fmt.Errorf("alerts: %w", err):
			default:
			}
		}
	}()
}

// stop ends the running manager and waits for it; the caller holds s.mu.
// The pointer stays until the next run, so that Emit and CommitHook keep
// writing to the store's inbox in between.
func (s *alertSwitch) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel, s.done = nil, nil
	}
}

// apply replaces the running manager with one for cfg. On failure the
// previous section (prev) runs again and the error is returned.
func (s *alertSwitch) apply(cfg, prev *config.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop()
	m, err := s.build(cfg)
	if err != nil {
		pm, perr := s.build(prev)
		s.run(pm)
		if perr != nil {
			return fmt.Errorf("%w; and the previous alert settings could not be restarted: %v", err, perr)
		}
		return err
	}
	s.run(m)
	return nil
}

// close stops the running manager for good.
func (s *alertSwitch) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop()
}

// replacingRegisterer lets a new manager's metrics take the place of the
// previous manager's (same names) on the daemon's registry.
type replacingRegisterer struct{ *prometheus.Registry }

func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registry.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registry.Unregister(are.ExistingCollector)
		return r.Registry.Register(c)
	}
	return err
}

func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

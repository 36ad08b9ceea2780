package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// stalledStore is a store whose commits wait until released.
type stalledStore struct {
	*MemStore
	release chan struct{}
}

func (s *stalledStore) Commit(b []Update) error {
	<-s.release
	return s.MemStore.Commit(b)
}

// A store that falls behind holds new probes back instead of letting each
// finished probe leave a goroutine blocked on the persister's queue: the
// probes started while the store is stalled stay within the queue's
// capacity plus the in-flight limit.
func TestStalledStoreHoldsProbes(t *testing.T) {
	st := &stalledStore{MemStore: NewMemStore(), release: make(chan struct{})}
	var probes atomic.Int64
	s, err := New(Options{
		Prober: ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
			probes.Add(1)
			return probe.Attempt{Target: c.Target.Name, Protocol: c.Protocol, Mechanism: c.Mechanism, Start: time.Now(), OK: true}
		}),
		Store: st, MaxInFlight: 8, MaxPerHost: 8, NoConfirm: true, WarmUp: -1, CommitDelay: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var specs []CheckSpec
	for i := range 200 {
		specs = append(specs, CheckSpec{Target: &probe.Target{Name: fmt.Sprintf("t%03d", i), IMAPAddr: "127.0.0.1:1"},
			Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Interval: time.Millisecond, Timeout: time.Second})
	}
	if err := s.SetChecks(specs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// 200 checks every millisecond would start 100,000 probes in 500 ms.
	deadline := time.Now().Add(5 * time.Second)
	for probes.Load() < int64(cap(s.persist)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	n := probes.Load()
	close(st.release)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if limit := int64(cap(s.persist) + 8); n < int64(cap(s.persist)) || n > limit {
		t.Errorf("%d probes started while the store was stalled; want the queue filled and at most %d", n, limit)
	}
}

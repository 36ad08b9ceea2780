package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// BenchmarkScheduler60k runs 60,000 checks (10,000 targets × 3 protocols ×
// 2 mechanisms) on a 5 s interval — the 5-minute production interval
// compressed 60× — with a no-op prober, for one interval plus a second, and
// reports the start lag (actual start − planned start) and allocations per
// probe. Run: go test -run XXX -bench Scheduler60k -benchtime 1x ./scheduler
func BenchmarkScheduler60k(b *testing.B) {
	const interval = 5 * time.Second
	for range b.N {
		var mu sync.Mutex
		lags := make([]time.Duration, 0, 80000)
		s, err := New(Options{
			Prober: ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
				return probe.Attempt{OK: true, Stage: probe.StageDone, Protocol: c.Protocol, Mechanism: c.Mechanism}
			}),
			MaxInFlight: 256, MaxPerHost: 256, NoConfirm: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnAttempt: func(_ CheckState, _ probe.Attempt, lag time.Duration) {
				mu.Lock()
				lags = append(lags, lag)
				mu.Unlock()
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		var specs []CheckSpec
		for i := range 10000 {
			t := &probe.Target{Name: fmt.Sprintf("t%05d", i), User: fmt.Sprintf("u%05d@contoso.example", i),
				IMAPAddr: "127.0.0.1:993", POPAddr: "127.0.0.1:995", SMTPAddr: "127.0.0.1:587"}
			for _, p := range probe.Protocols {
				for _, m := range probe.Mechanisms {
					specs = append(specs, CheckSpec{Target: t, Protocol: p, Mechanism: m, Interval: interval, Timeout: time.Second})
				}
			}
		}
		if err := s.SetChecks(specs); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		ctx, cancel := context.WithTimeout(context.Background(), interval+time.Second)
		start := time.Now()
		s.Run(ctx)
		elapsed := time.Since(start)
		cancel()
		runtime.ReadMemStats(&m1)
		mu.Lock()
		slices.Sort(lags)
		n := len(lags)
		if n < 60000 {
			b.Fatalf("only %d probes in one interval", n)
		}
		b.ReportMetric(float64(lags[n/2].Microseconds())/1000, "lag_p50_ms")
		b.ReportMetric(float64(lags[n*99/100].Microseconds())/1000, "lag_p99_ms")
		b.ReportMetric(float64(lags[n-1].Microseconds())/1000, "lag_max_ms")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "probes/s")
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/probe")
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(n), "B/probe")
		mu.Unlock()
	}
}

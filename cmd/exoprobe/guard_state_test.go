package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Issue 9: without --data-dir the lockout guard's record survives a
// restart (in the state directory): a restart loop cannot add failed
// logins beyond the guard's limit.
func TestGuardSurvivesRestartWithoutDataDir(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "wrong")
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	cfgPath := writeFile(t, dir, "c.yaml", runTestConfig)
	// In the second run logins succeed: a failure the guard remembers then
	// can only come from the first run.
	var second atomic.Bool
	prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		if second.Load() {
			return probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
				Start: time.Now(), Stage: probe.StageDone, OK: true}
		}
		return probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
			Start: time.Now(), Stage: probe.StageAuth, ErrorKind: probe.ErrRefused,
			Reply: "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect."}
	})
	run := func(until func(rt *Runtime) bool) *Runtime {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ready := make(chan *Runtime, 1)
		done := make(chan error, 1)
		go func() {
			done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0", StateDir: stateDir,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Prober: prober,
				Ready: func(_ string, rt *Runtime) { ready <- rt }})
		}()
		var rt *Runtime
		select {
		case rt = <-ready:
		case err := <-done:
			t.Fatalf("daemon: %v", err)
		}
		for deadline := time.Now().Add(20 * time.Second); !until(rt); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("condition not reached; snapshot %+v", rt.Scheduler.Snapshot())
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return rt
	}
	guardFailures := func(rt *Runtime) int {
		for _, st := range rt.Scheduler.Snapshot() {
			if st.LockoutGuard != nil {
				return len(st.LockoutGuard.Failures)
			}
		}
		return 0
	}
	run(func(rt *Runtime) bool { return guardFailures(rt) >= 1 })
	second.Store(true)
	b, err := os.ReadFile(filepath.Join(stateDir, guardFile))
	if err != nil || !strings.Contains(string(b), "scanner@contoso.example") {
		t.Fatalf("guard file: %v %s", err, b)
	}
	// After the restart the guard remembers before any new attempt.
	rt := run(func(rt *Runtime) bool { return true })
	if n := guardFailures(rt); n < 1 {
		t.Errorf("after a restart the guard remembers %d failures", n)
	}
}

// Where no durable state can be kept, Basic checks are refused at start.
func TestGuardStateRequiredForBasic(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	notADir := writeFile(t, dir, "file", "x")
	cfgPath := writeFile(t, dir, "c.yaml", runTestConfig)
	err := runDaemon(context.Background(), runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0",
		StateDir: filepath.Join(notADir, "state"), Logger: slog.New(slog.DiscardHandler)})
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "lockout guard needs durable state") {
		t.Errorf("runDaemon: %v", err)
	}
}

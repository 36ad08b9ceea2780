package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// startWebDaemon runs the daemon on runTestConfig with a prober that always
// logs in, and returns its address and Runtime once the check is confirmed.
func startWebDaemon(t *testing.T, o runOptions) (string, *Runtime) {
	t.Helper()
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	o.ConfigPath = writeFile(t, t.TempDir(), "exoprobe.yaml", runTestConfig)
	o.Listen = "127.0.0.1:0"
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Prober = scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		return probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
			Start: time.Now(), OK: true, Stage: probe.StageDone}
	})
	var addr string
	var rt *Runtime
	ready := make(chan struct{})
	o.Ready = func(a string, r *Runtime) { addr, rt = a, r; close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	id := scheduler.MakeID("scanner", probe.SMTP, probe.Basic)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := rt.Scheduler.Check(id); st.Status == scheduler.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the check was never confirmed ok")
		}
	}
	return addr, rt
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// causeSeries returns the exoprobe_check_cause samples of a scrape.
func causeSeries(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "exoprobe_check_cause{") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestRunSparseCauses: --web.sparse-causes reaches /metrics: one cause
// series per check (the current one, 1) instead of one per catalog cause.
func TestRunSparseCauses(t *testing.T) {
	// The flag exists on `run` (an unknown flag is a usage error).
	cfg := writeFile(t, t.TempDir(), "exoprobe.yaml", runTestConfig)
	var out, errb bytes.Buffer
	if code := runCmd([]string{"--check-config", "--web.sparse-causes", "--config", cfg}, &out, &errb); code != exitOK {
		t.Fatalf("run --web.sparse-causes: exit %d: %s", code, errb.String())
	}

	for _, sparse := range []bool{false, true} {
		addr, _ := startWebDaemon(t, runOptions{SparseCauses: sparse})
		code, body := getStatus(t, "http://"+addr+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("metrics: %d", code)
		}
		got := causeSeries(body)
		const hot = `exoprobe_check_cause{cause="ok",mechanism="basic",protocol="smtp",target="scanner"} 1`
		want := len(diagnose.Causes())
		if sparse {
			want = 1
		}
		if len(got) != want || !strings.Contains(body, hot+"\n") {
			t.Errorf("sparse=%v: %d cause series, want %d with %s:\n%s", sparse, len(got), want, hot, strings.Join(got, "\n"))
		}
	}
}

// TestReadyz: ready only while a configuration is loaded and the
// scheduler's loop runs; the running daemon answers 200.
func TestReadyz(t *testing.T) {
	rt := &Runtime{}
	if err := ready(rt); err == nil || !strings.Contains(err.Error(), "configuration") {
		t.Errorf("no config: %v", err)
	}
	rt.cfg = &config.Config{}
	if err := ready(rt); err == nil || !strings.Contains(err.Error(), "scheduler not running") {
		t.Errorf("scheduler stopped: %v", err)
	}
	rt.schedulerRunning.Store(true)
	if err := ready(rt); err != nil {
		t.Errorf("running: %v", err)
	}

	addr, rt := startWebDaemon(t, runOptions{})
	if code, body := getStatus(t, "http://"+addr+"/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("running daemon: /readyz %d %q", code, body)
	}
	// As during a shutdown, between the scheduler's stop and the
	// listener's.
	rt.schedulerRunning.Store(false)
	if code, body := getStatus(t, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "scheduler not running") {
		t.Errorf("scheduler stopped: /readyz %d %q", code, body)
	}
	rt.schedulerRunning.Store(true)
}

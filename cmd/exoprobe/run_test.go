package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

const runTestConfig = `
defaults:
  interval: 1s
  timeout: 1s
  hosts: {imap: 127.0.0.1:1993, pop: 127.0.0.1:1995, smtp: 127.0.0.1:1587}
scheduler:
  no_confirm: true
targets:
  - name: scanner
    user: scanner@contoso.example
    password_env: EXOPROBE_RUN_TEST_PW
    checks:
      - {protocol: smtp, mechanism: basic}
`

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", runTestConfig)
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(runTestConfig, "password_env", "password", 1))
	var out, errb bytes.Buffer
	if code := runCmd([]string{"--check-config", "--config", good}, &out, &errb); code != exitOK {
		t.Fatalf("valid config: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "1 targets, 1 checks") {
		t.Errorf("output %q", out.String())
	}
	errb.Reset()
	if code := runCmd([]string{"--check-config", "--config", bad}, &out, &errb); code != exitUsage {
		t.Fatalf("invalid config: exit %d", code)
	}
	if !strings.Contains(errb.String(), "inline password is not allowed") || !strings.Contains(errb.String(), "line ") {
		t.Errorf("stderr %q", errb.String())
	}
}

// The daemon with a fake prober: health, reload with a bad file keeping the
// old configuration, reload with a good one, and events stored across a
// restart without duplicates.
func TestRunDaemonReloadAndRestart(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "exoprobe.yaml", runTestConfig)
	dataDir := filepath.Join(dir, "data")
	var failing atomic.Bool
	prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		a := probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
			Start: time.Now(), OK: !failing.Load(), Stage: probe.StageDone}
		if !a.OK {
			a.Stage, a.ErrorKind = probe.StageAuth, probe.ErrRefused
			a.Reply = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com 2026-12-31T23:00:00.000Z 08DE0000000000" + time.Now().Format("150405.000000") + "]"
		}
		return a
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	start := func() (addr string, rt *Runtime, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, DataDir: dataDir, Listen: "127.0.0.1:0", Logger: log,
				Prober: prober, Ready: func(a string, r *Runtime) { addr, rt = a, r; close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("daemon did not start: %v", err)
		}
		return addr, rt, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		}
	}
	waitEvents := func(rt *Runtime, n int) []scheduler.Event {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			evs, err := rt.Scheduler.Events(0)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) >= n {
				return evs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d events, want %d: %+v\nsnapshot %+v", len(evs), n, evs, rt.Scheduler.Snapshot())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	addr, rt, stop := start()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	// A bad file: 500 with the reason, old checks keep running.
	writeFile(t, dir, "exoprobe.yaml", runTestConfig+"    bogus: 1\n")
	resp, err = http.Post("http://"+addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), "bogus") || !strings.Contains(string(body), "line ") {
		t.Fatalf("bad reload: %d %q", resp.StatusCode, body)
	}
	if snap := rt.Scheduler.Snapshot(); len(snap) != 1 || rt.ReloadsFailed.Load() != 1 {
		t.Fatalf("after a bad reload: %d checks, %d failures", len(snap), rt.ReloadsFailed.Load())
	}
	// A good file with one more check.
	writeFile(t, dir, "exoprobe.yaml", runTestConfig+"      - {protocol: imap, mechanism: basic, expect: fail}\n")
	resp, err = http.Post("http://"+addr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(rt.Scheduler.Snapshot()) != 2 {
		t.Fatalf("good reload: %d, %d checks", resp.StatusCode, len(rt.Scheduler.Snapshot()))
	}

	// Baseline: SMTP works; the posture check (Basic IMAP must fail)
	// logs in, which is an unexpectedly_ok event.
	if evs := waitEvents(rt, 1); evs[0].Kind != scheduler.EventUnexpectedlyOK {
		t.Fatalf("baseline events %+v", evs)
	}
	smtpID := scheduler.MakeID("scanner", probe.SMTP, probe.Basic)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := rt.Scheduler.Check(smtpID); st.Status == scheduler.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("smtp check never ran")
		}
	}
	failing.Store(true)
	evs := waitEvents(rt, 3) // smtp regressed, imap recovered
	hb, _ := rt.Scheduler.History(smtpID, 0)
	stop()

	kinds := map[scheduler.EventKind]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	if kinds[scheduler.EventRegressed] != 1 || kinds[scheduler.EventRecovered] != 1 || kinds[scheduler.EventUnexpectedlyOK] != 1 {
		t.Fatalf("events before restart: %+v", evs)
	}

	// Restart with the same data dir while still failing: no new
	// regressed for the known regression.
	_, rt, stop = start()
	// Let three attempts run after the restart.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if h, _ := rt.Scheduler.History(smtpID, 0); len(h) >= len(hb)+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no attempts after restart")
		}
	}
	after, _ := rt.Scheduler.Events(0)
	n := 0
	for _, e := range after {
		if e.Kind == scheduler.EventRegressed {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("restart repeated the regression: %+v", after)
	}
	if len(after) != len(evs) {
		t.Fatalf("restart while nothing changed made events: %+v", after[:len(after)-len(evs)])
	}
	failing.Store(false)
	evs = waitEvents(rt, len(after)+2)
	for _, e := range evs[:2] {
		if e.Kind != scheduler.EventRecovered && e.Kind != scheduler.EventUnexpectedlyOK {
			t.Fatalf("new events after restart %+v", evs[:2])
		}
	}
	stop()
}

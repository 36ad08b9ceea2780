package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

const alertsSectionOK = `alerts:
  group_wait: 100ms
  sinks:
    - {name: mem, type: memory}
`

// --check-config validates the alerts section too, naming the line.
func TestRunCheckConfigAlerts(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, alerts string
		code         int
		want         string
	}{
		{"good", alertsSectionOK, exitOK, "valid"},
		{"unknown key", "alerts:\n  sinks:\n    - {name: x, type: webhook, url: 'http://127.0.0.1:1/', colour: red}\n", exitUsage, `line 3: unknown key "colour"`},
		{"unknown type", "alerts:\n  sinks:\n    - {name: x, type: carrier-pigeon}\n", exitUsage, "line 3: sink \"x\": unknown type"},
		// Secrets exist where the daemon runs, not where a config is
		// reviewed: --check-config does not read them (the daemon does).
		{"missing secret file", missingSecretAlerts, exitOK, "valid"},
		{"bad matcher", "alerts:\n  sinks:\n    - {name: x, type: memory}\n  routes:\n    - {sinks: [x], matchers: ['site']}\n", exitUsage, "alerts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, "c.yaml", tc.alerts+runTestConfig)
			var out, errb bytes.Buffer
			code := runCmd([]string{"--check-config", "--config", p}, &out, &errb)
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Errorf("exit %d (want %d); stdout %q stderr %q; want %q", code, tc.code, out.String(), errb.String(), tc.want)
			}
		})
	}
}

const missingSecretAlerts = "alerts:\n  sinks:\n    - {name: x, type: slack, url_file: /nonexistent/slack-url}\n"

// The daemon itself reads the sinks' secrets at start and refuses to start
// without them, naming the sink and its line.
func TestRunDaemonMissingSinkSecret(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	p := writeFile(t, dir, "c.yaml", missingSecretAlerts+runTestConfig)
	err := runDaemon(context.Background(), runOptions{ConfigPath: p, DataDir: filepath.Join(dir, "data"),
		Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `sink "x" (line 3)`) {
		t.Fatalf("runDaemon: %v; want a config error naming sink \"x\" (line 3)", err)
	}
}

// The daemon with a data dir runs the alert manager: a regression reaches
// the sink, its deliveries are on the status page and /metrics, the
// silences API is mounted; a bad alerts section fails a reload and keeps
// the old configuration; a changed one says a restart is needed.
func TestRunDaemonAlerts(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "exoprobe.yaml", alertsSectionOK+runTestConfig)
	prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		return probe.Attempt{Target: c.Target.Name, User: c.Target.User, Protocol: c.Protocol, Mechanism: c.Mechanism,
			Start: time.Now(), Stage: probe.StageAuth, ErrorKind: probe.ErrRefused,
			Reply: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."}
	})
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	var addr string
	var rt *Runtime
	go func() {
		done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(logs, nil)), Prober: prober,
			Ready: func(a string, r *Runtime) { addr, rt = a, r; close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	if rt.Alerts == nil {
		t.Fatal("no alert manager with a data dir and a sink")
	}
	base := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ds := rt.Alerts.Recent(10); len(ds) > 0 && ds[0].OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery; events %v", rt.Scheduler.Snapshot())
		}
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, page := get("/"); !strings.Contains(page, "Recent alert deliveries") || !strings.Contains(page, "SMTP AUTH") {
		t.Errorf("status page lacks the delivery")
	}
	_, metrics := get("/metrics")
	for _, w := range []string{`exoprobe_alerts_sent_total{kind="regressed",sink="mem"} 1`, `exoprobe_alert_outbox_depth{sink="mem"} 0`,
		`exoprobe_alerts_failed_total{reason="timeout",sink="mem"} 0`, "exoprobe_probe_success"} {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	resp, err := http.Post(base+"/api/v1/silences", "application/json",
		strings.NewReader(`{"matchers":["target=\"scanner\""],"duration":"1h","comment":"maintenance"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, body := get("/api/v1/silences"); resp.StatusCode != http.StatusCreated || code != 200 || !strings.Contains(body, "maintenance") {
		t.Errorf("silences API: POST %d, GET %d %s", resp.StatusCode, code, body)
	}

	reload := func() (int, string) {
		resp, err := http.Post(base+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A bad alerts section: the reload fails with the line, old config stays.
	writeFile(t, dir, "exoprobe.yaml", strings.Replace(alertsSectionOK, "type: memory", "type: memory, colour: red", 1)+runTestConfig)
	if code, body := reload(); code != 500 || !strings.Contains(body, `line 4: unknown key "colour"`) {
		t.Errorf("reload with a bad alerts section: %d %q", code, body)
	}
	// Targets added above the section move its lines: not a change.
	writeFile(t, dir, "exoprobe.yaml", "\n\n"+alertsSectionOK+runTestConfig)
	if code, _ := reload(); code != 200 || strings.Contains(logs.String(), "alerts section changed") {
		t.Errorf("reload with the same alerts: %d; log %s", code, logs.String())
	}
	// A changed section: accepted, and the log says it needs a restart.
	writeFile(t, dir, "exoprobe.yaml", strings.Replace(alertsSectionOK, "100ms", "1s", 1)+runTestConfig)
	if code, _ := reload(); code != 200 || !strings.Contains(logs.String(), "alerts section changed") {
		t.Errorf("reload with changed alerts: %d; log %s", code, logs.String())
	}
}

// Without a data dir there is no outbox: alerts are off, said once.
func TestRunDaemonAlertsNeedDataDir(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "exoprobe.yaml", alertsSectionOK+runTestConfig)
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var rt *Runtime
	var addr string
	go func() {
		done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(logs, nil)),
			Prober: scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt { return probe.Attempt{OK: true} }),
			Ready:  func(a string, r *Runtime) { addr, rt = a, r; cancel() }})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if addr == "" || rt.Alerts != nil || !strings.Contains(logs.String(), "alerts are disabled") {
		t.Errorf("without a data dir: manager %v; log %s", rt.Alerts, logs.String())
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Without --data-dir the daemon sends no alerts and keeps no silences: the
// silences API answers an empty list, and a write says why (not a bare
// 404 that reads like a wrong URL).
func TestSilencesWithoutDataDir(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	cfgPath := writeFile(t, dir, "exoprobe.yaml", runTestConfig)
	prober := scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt {
		return probe.Attempt{Target: c.Target.Name, Protocol: c.Protocol, Mechanism: c.Mechanism, Start: time.Now(), OK: true, Stage: probe.StageDone}
	})
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, Listen: "127.0.0.1:0", Prober: prober,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string, _ *Runtime) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	resp, err := http.Get("http://" + addr + "/api/v1/silences")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("GET: %d %q, want 200 []", resp.StatusCode, body)
	}
	// Loopback listener: writes are allowed by the protection, so the
	// answer is the handler's own.
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/silences", strings.NewReader(`{"matchers":{"target":"x"},"duration":"1h"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "--data-dir") {
		t.Errorf("POST: %d %q, want 409 naming --data-dir", resp.StatusCode, body)
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// startProtectDaemon runs the daemon with alerts on 127.0.0.1.
func startProtectDaemon(t *testing.T, o runOptions) (string, *Runtime, *testenv.Buffer) {
	t.Helper()
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	logs := &testenv.Buffer{}
	o.ConfigPath = writeFile(t, dir, "exoprobe.yaml", alertsSectionOK+runTestConfig)
	o.DataDir, o.Listen = filepath.Join(dir, "data"), "127.0.0.1:0"
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	o.Prober = scheduler.ProberFunc(func(ctx context.Context, c probe.Check) probe.Attempt { return probe.Attempt{OK: true} })
	ready := make(chan struct{})
	var addr string
	var rt *Runtime
	o.Ready = func(a string, r *Runtime) { addr, rt = a, r; close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, o) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return addr, rt, logs
}

func send(t *testing.T, method, url, host string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 9: a foreign page can neither reload nor silence — not with a
// cross-site form, not through a rebound DNS name.
func TestRunDaemonForeignWritesRefused(t *testing.T) {
	addr, rt, logs := startProtectDaemon(t, runOptions{})
	base := "http://" + addr
	silence := `{"matchers":["target=~\".*\""],"duration":"720h"}`
	// A form on evil.example POSTing to /-/reload, as a browser sends it.
	form := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
		"Content-Type": "application/x-www-form-urlencoded"}
	if code, _ := send(t, "POST", base+"/-/reload", "", form, "x=1"); code != http.StatusForbidden {
		t.Errorf("cross-site form reload: %d", code)
	}
	// DNS rebinding: the page's own origin, its name resolving to us.
	rebind := map[string]string{"Origin": "http://rebind.evil.example:" + addr[strings.LastIndex(addr, ":")+1:], "Content-Type": "application/json"}
	if code, _ := send(t, "POST", base+"/api/v1/silences", "rebind.evil.example"+addr[strings.LastIndex(addr, ":"):], rebind, silence); code != http.StatusMisdirectedRequest {
		t.Errorf("rebinding silence: %d", code)
	}
	if code, _ := send(t, "GET", base+"/api/v1/status", "rebind.evil.example", nil, ""); code != http.StatusMisdirectedRequest {
		t.Errorf("rebinding read: %d", code)
	}
	if rt.ReloadsOK.Load() != 0 || len(rt.Alerts.Silences()) != 0 {
		t.Fatalf("a foreign write got through: reloads %d, silences %v", rt.ReloadsOK.Load(), rt.Alerts.Silences())
	}
	// The operator's curl on the loopback listener still works, logged.
	if code, _ := send(t, "POST", base+"/-/reload", "", nil, ""); code != 200 {
		t.Errorf("local reload: %d", code)
	}
	if code, _ := send(t, "POST", base+"/api/v1/silences", "", map[string]string{"Content-Type": "application/json"}, silence); code != http.StatusCreated {
		t.Errorf("local silence: %d", code)
	}
	for _, w := range []string{"write refused", "DNS rebinding", `msg="silence created"`, `who="loopback (unauthenticated)"`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, logs.String())
		}
	}
}

// With --web.write-token-file, writes need the token, even from loopback.
func TestRunDaemonWriteToken(t *testing.T) {
	const tok = "f00dfacef00dfacef00dfacef00dface"
	tf := writeFile(t, t.TempDir(), "token", tok+"\n")
	addr, rt, _ := startProtectDaemon(t, runOptions{WriteTokenFile: tf, ExternalNames: []string{"exoprobe.monitoring.svc"}})
	base := "http://" + addr
	if code, _ := send(t, "POST", base+"/-/reload", "", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("reload without token: %d", code)
	}
	if code, _ := send(t, "POST", base+"/-/reload", "exoprobe.monitoring.svc:9465", map[string]string{"Authorization": "Bearer " + tok}, ""); code != 200 {
		t.Errorf("reload with token via the external name: %d", code)
	}
	if rt.ReloadsOK.Load() != 1 {
		t.Errorf("reloads %d, want 1", rt.ReloadsOK.Load())
	}
	if code, _ := send(t, "GET", base+"/healthz", "", nil, ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}
}

// A missing or short token file stops the daemon at start.
func TestRunDaemonBadWriteToken(t *testing.T) {
	t.Setenv("EXOPROBE_RUN_TEST_PW", "pw")
	dir := t.TempDir()
	cfg := writeFile(t, dir, "exoprobe.yaml", runTestConfig)
	for _, tf := range []string{filepath.Join(dir, "missing"), writeFile(t, dir, "short", "abc\n")} {
		err := runDaemon(context.Background(), runOptions{ConfigPath: cfg, Listen: "127.0.0.1:0", WriteTokenFile: tf,
			Logger: slog.New(slog.DiscardHandler)})
		var ce *configError
		if err == nil || !strings.Contains(err.Error(), "token") {
			t.Errorf("token file %s: %v", tf, err)
		} else if !asConfigError(err, &ce) {
			t.Errorf("token file %s: not a config error: %v", tf, err)
		}
	}
}

func asConfigError(err error, ce **configError) bool {
	e, ok := err.(*configError)
	*ce = e
	return ok
}

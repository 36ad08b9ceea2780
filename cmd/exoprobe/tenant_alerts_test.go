package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/sim"
)

// hookSink is a webhook receiver on 127.0.0.1 that keeps every payload.
type hookSink struct {
	mu  sync.Mutex
	got []alerts.WebhookPayload
	raw []string
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p alerts.WebhookPayload
	if err := json.Unmarshal(b, &p); err == nil {
		h.mu.Lock()
		h.got, h.raw = append(h.got, p), append(h.raw, string(b))
		h.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// find returns the first payload f accepts.
func (h *hookSink) find(f func(*alerts.WebhookPayload) bool) (alerts.WebhookPayload, string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.got {
		if f(&h.got[i]) {
			return h.got[i], h.raw[i], true
		}
	}
	return alerts.WebhookPayload{}, "", false
}

func (h *hookSink) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.raw, "\n")
}

// startTenantDaemon runs the daemon with tenant reads of the emulator, a
// data dir and a webhook sink on 127.0.0.1; targets is the config's
// targets section.
func startTenantDaemon(t *testing.T, s *sim.Sim, targets string) (base string, hook *hookSink) {
	t.Helper()
	hook = &hookSink{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	ep := s.Endpoints()
	head, _, _ := strings.Cut(tenantDaemonConfig, "targets:\n")
	body := "alerts:\n  group_wait: 10s\n  group_interval: 100ms\n  sinks:\n    - {name: hook, type: webhook, url: '" + srv.URL + "/hook'}\n" +
		head + "targets:\n" + targets
	body = strings.NewReplacer("READER_ID", ep.Reader.ClientID, "GRAPH_URL", ep.GraphURL+"/v1.0",
		"EXCHANGE_URL", ep.ExchangeAdminURL).Replace(body)
	cfgPath, _ := configForSim(t, s, body)
	secretFile := writeFile(t, t.TempDir(), "reader-secret", ep.Reader.ClientSecret+"\n")
	cfgBody, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(cfgBody), "READER_SECRET_FILE", secretFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- runDaemon(ctx, runOptions{ConfigPath: cfgPath, DataDir: filepath.Join(t.TempDir(), "data"), Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string, _ *Runtime) { ready <- a }})
	}()
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return base, hook
}

// The daemon renders remedies at its edges with the tenant's names: a
// Basic SMTP check refused by the user's authentication policy (2023
// words: "basic authentication is disabled", no policy named) shows the
// real policy in the status page's incident, the check's API and the
// alert, not <policy>.
func TestRunDaemonTenantRemedy(t *testing.T) {
	s, _ := startSim2023(t)
	tenantSimExec(t, s, "Set-User -Identity scanner@contoso.com -AuthenticationPolicy 'Block Basic Auth'")
	base, hook := startTenantDaemon(t, s, `  - name: scanner
    user: scanner@contoso.com
    ca_file: CA_FILE
    password_file: SCANNER_PW
    checks:
      - {protocol: smtp, mechanism: basic}
`)
	const want = "Set-AuthenticationPolicy -Identity 'Block Basic Auth' -AllowBasicAuthSmtp"
	var p alerts.WebhookPayload
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(hook.all())
			t.Log(httpGetBody(t, base+"/api/v1/status"))
		}
	})
	waitFor(t, "the basic_auth_disabled alert with the tenant's policy", func() bool {
		var ok bool
		p, _, ok = hook.find(func(p *alerts.WebhookPayload) bool {
			return p.Problem == "basic_auth_disabled" && p.Status == alerts.StatusFiring && p.Remedy != nil &&
				strings.Contains(strings.Join(p.Remedy.Fix, "\n"), want)
		})
		return ok
	})
	if fix := strings.Join(p.Remedy.Fix, "\n"); strings.Contains(fix, "<policy>") || strings.Contains(p.Text, "<policy>") {
		t.Errorf("the alert still has <policy>: %s\n%s", fix, p.Text)
	}
	page := httpGetBody(t, base+"/")
	if !strings.Contains(page, "Set-AuthenticationPolicy -Identity &#39;Block Basic Auth&#39; -AllowBasicAuthSmtp") || strings.Contains(page, "-Identity &lt;policy&gt;") {
		t.Errorf("the status page's incident does not name the tenant's policy")
	}
	var st struct {
		LastFinding struct {
			Cause  string
			Remedy struct{ Fix []string }
		} `json:"last_finding"`
	}
	if err := json.Unmarshal([]byte(httpGetBody(t, base+"/api/v1/checks/scanner/smtp/basic")), &st); err != nil {
		t.Fatal(err)
	}
	if st.LastFinding.Cause != "basic_auth_disabled" || !strings.Contains(strings.Join(st.LastFinding.Remedy.Fix, "\n"), want) {
		t.Errorf("the check's API: %+v", st.LastFinding)
	}
}

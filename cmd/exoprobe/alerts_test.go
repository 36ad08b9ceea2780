package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// `exoprobe alerts test` against a PagerDuty stand-in: a trigger marked as
// a test, then its resolve, and the command says so.
func TestAlertsTestCommandResolvesPagerDuty(t *testing.T) {
	var mu sync.Mutex
	var actions []string
	var summary string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev struct {
			EventAction string `json:"event_action"`
			Payload     *struct {
				Summary string `json:"summary"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(b, &ev)
		mu.Lock()
		actions = append(actions, ev.EventAction)
		if ev.Payload != nil {
			summary = ev.Payload.Summary
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"success"}`)
	}))
	defer srv.Close()
	t.Setenv("EXOPROBE_ALERTS_TEST_PD_KEY", "R0UT1NG")
	dir := t.TempDir()
	cfg := writeFile(t, dir, "c.yaml", "alerts:\n  sinks:\n    - {name: oncall, type: pagerduty, routing_key_env: EXOPROBE_ALERTS_TEST_PD_KEY, url: '"+
		srv.URL+"'}\n"+runTestConfig)
	var out, errb bytes.Buffer
	if code := alertsCmd([]string{"test", "--sink", "oncall", "--config", cfg, "--tries", "1"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(actions, ",") != "trigger,resolve" {
		t.Errorf("PagerDuty got %v, want trigger then resolve", actions)
	}
	if !strings.HasPrefix(summary, "exoprobe test alert") {
		t.Errorf("trigger summary %q", summary)
	}
	if !strings.Contains(out.String(), "accepted and resolved") {
		t.Errorf("output %q", out.String())
	}
}

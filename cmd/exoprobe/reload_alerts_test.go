package main

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 9: a reload that changes the alerts section applies it, without a
// restart: the new sink is in force, the API silences carry over, the
// silences API and the alert metrics keep working.
func TestReloadAppliesAlertsSection(t *testing.T) {
	addr, rt, logs := startProtectDaemon(t, runOptions{})
	base := "http://" + addr
	first := rt.AlertManager()
	if code, _ := send(t, "POST", base+"/api/v1/silences", "", map[string]string{"Content-Type": "application/json"},
		`{"matchers":["target=\"other\""],"duration":"1h","comment":"kept"}`); code != http.StatusCreated {
		t.Fatalf("silence: %d", code)
	}
	cfgPath := rt.cfgPath
	writeFile(t, strings.TrimSuffix(cfgPath, "/exoprobe.yaml"), "exoprobe.yaml",
		strings.Replace(alertsSectionOK, "    - {name: mem, type: memory}\n", "    - {name: mem, type: memory}\n    - {name: mem2, type: memory}\n", 1)+runTestConfig)
	if code, body := send(t, "POST", base+"/-/reload", "", nil, ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	m := rt.AlertManager()
	if m == nil || m == first {
		t.Fatal("the alert manager was not replaced")
	}
	if _, ok := m.Sinks()["mem2"]; !ok {
		t.Errorf("new sink not in force: %v", m.Sinks())
	}
	if ss := m.Silences(); len(ss) != 1 || ss[0].Comment != "kept" {
		t.Errorf("API silences after the reload: %+v", ss)
	}
	if code, body := send(t, "GET", base+"/api/v1/silences", "", nil, ""); code != 200 || !strings.Contains(body, "kept") {
		t.Errorf("silences API after the reload: %d %s", code, body)
	}
	if _, body := send(t, "GET", base+"/metrics", "", nil, ""); !strings.Contains(body, `exoprobe_alert_outbox_depth{sink="mem2"}`) {
		t.Errorf("metrics lack the new sink")
	}
	if !strings.Contains(logs.String(), "the new alert settings are in force") {
		t.Errorf("log does not say the section was applied:\n%s", logs.String())
	}
	// A section whose sink cannot be built fails the reload, and the
	// previous manager keeps running.
	writeFile(t, strings.TrimSuffix(cfgPath, "/exoprobe.yaml"), "exoprobe.yaml",
		"alerts:\n  sinks:\n    - {name: x, type: slack, url_file: /nonexistent/slack-url}\n"+runTestConfig)
	if code, body := send(t, "POST", base+"/-/reload", "", nil, ""); code != 500 || !strings.Contains(body, "slack-url") {
		t.Errorf("reload with an unbuildable sink: %d %s", code, body)
	}
	if _, ok := rt.AlertManager().Sinks()["mem2"]; !ok {
		t.Errorf("after a failed reload the previous sinks are not in force: %v", rt.AlertManager().Sinks())
	}
}

package main

import (
	"net/http"
	"strings"
	"testing"
)

// Without any alert sink the silences API still works (answering [] when
// empty, not null or 404), and the page's actions are wired to the
// scheduler.
func TestRunSilencesWithoutSinksAndActions(t *testing.T) {
	addr, _ := startWebDaemon(t, runOptions{DataDir: t.TempDir()})
	base := "http://" + addr
	if code, body := getStatus(t, base+"/api/v1/silences"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET silences with none: %d %q, want 200 []", code, body)
	}
	resp, err := http.Post(base+"/api/v1/silences", "application/json",
		strings.NewReader(`{"matchers":["target=\"scanner\""],"duration":"1h","comment":"maintenance"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, body := getStatus(t, base+"/api/v1/silences"); resp.StatusCode != 201 || code != 200 || !strings.Contains(body, "maintenance") {
		t.Errorf("silences without sinks: POST %d, GET %d %s", resp.StatusCode, code, body)
	}
	resp, err = http.Post(base+"/api/v1/checks/scanner%2Fsmtp%2Fbasic/probe", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("probe now: %d", resp.StatusCode)
	}
	if _, m := getStatus(t, base+"/metrics"); !strings.Contains(m, `exoprobe_build_info{goarch=`) || !strings.Contains(m, `version="dev"} 1`) {
		t.Error("/metrics lacks exoprobe_build_info")
	}
	if _, m := getStatus(t, base+"/metrics"); !strings.Contains(m, "\nexoprobe_probe_abandoned_total 0\n") {
		t.Error("/metrics lacks exoprobe_probe_abandoned_total")
	}
	if _, page := getStatus(t, base+"/?check=scanner%2Fsmtp%2Fbasic"); !strings.Contains(page, `data-action="probe" data-check="scanner/smtp/basic"`) {
		t.Error("the check's view offers no probe-now button")
	}
}

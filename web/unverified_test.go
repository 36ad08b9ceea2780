package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// An expect: fail check refused for a reason that proves nothing (issue 8):
// its own status in the metrics (exoprobe_check_status{status="unverified"},
// exoprobe_check_expected 0), the API and the status page, with the remedy
// of what hid the posture and never a fix that turns Basic on.
func TestUnverifiedPosture(t *testing.T) {
	st := check("scanner", "scanner@contoso.com", probe.IMAP, probe.Basic, scheduler.ExpectFail, scheduler.StatusUnverified, diagnose.CauseNetworkError)
	st.LastAttempt = &probe.Attempt{Target: "scanner", Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: probe.StageConnect,
		ErrorKind: probe.ErrConnect, Error: "dial tcp 127.0.0.1:1: connect: connection refused"}
	st.LastFinding = &diagnose.Finding{Cause: diagnose.CauseNetworkError, Confidence: diagnose.Definitive, Protocol: "imap", Mechanism: "basic",
		Evidence: []string{"the connection could not be made or was cut"}}
	src := &fakeSource{checks: []scheduler.CheckState{st}}

	const want = `
# HELP exoprobe_check_expected 1 when the check meets its expectation (confirmed), 0 when it does not; absent while pending.
# TYPE exoprobe_check_expected gauge
exoprobe_check_expected{mechanism="basic",protocol="imap",target="scanner"} 0
`
	reg := registry(src, Options{})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "exoprobe_check_expected"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hot := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "exoprobe_check_status" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "status" {
					hot[lp.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if hot["unverified"] != 1 || hot["ok"] != 0 || hot["failing"] != 0 || len(hot) != 5 {
		t.Errorf("exoprobe_check_status: %v, want unverified=1 of 5 statuses", hot)
	}

	h := newTestHandler(src, Options{})
	_, _, body := get(t, h, "/api/v1/status")
	var resp struct {
		Checks []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Cause  string `json:"cause"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("api: %v\n%s", err, body)
	}
	if len(resp.Checks) != 1 || resp.Checks[0].Status != "unverified" || resp.Checks[0].Cause != "network_error" {
		t.Errorf("api: %s", body)
	}

	for _, lang := range []string{"en", "ja"} {
		_, _, page := get(t, h, "/?lang="+lang)
		row := rowHTML(t, page, string(st.ID))
		label := map[string]string{"en": "posture unverified", "ja": "ポスチャ未検証"}[lang]
		if !strings.Contains(row, `class="badge st-unverified"`) || !strings.Contains(row, label) {
			t.Errorf("%s: row does not show the unverified state:\n%s", lang, row)
		}
		inc := incidentHTML(t, page, "posture_unverified/contoso.com")
		if !strings.Contains(inc, diagnose.PostureUnverifiedText(diagnose.CauseNetworkError, lang)[:20]) {
			t.Errorf("%s: the incident does not say why nothing was verified:\n%s", lang, inc)
		}
		if strings.Contains(inc, "Set-AuthenticationPolicy") || strings.Contains(inc, "AllowBasicAuth") {
			t.Errorf("%s: an unverified posture row offers a Basic policy line:\n%s", lang, row)
		}
	}
}

// Unverified posture is grouped per scope, as the alerts group it; each
// reason that hid the posture gets its own remedy, under its cause.
func TestUnverifiedIncidentRemedyPerCause(t *testing.T) {
	a := check("scanner", "scanner@contoso.com", probe.IMAP, probe.Basic, scheduler.ExpectFail, scheduler.StatusUnverified, diagnose.CauseNetworkError)
	b := check("copier", "copier@contoso.com", probe.POP, probe.Basic, scheduler.ExpectFail, scheduler.StatusUnverified, diagnose.CauseTimeout)
	_, _, page := get(t, newTestHandler(&fakeSource{checks: []scheduler.CheckState{b, a}}, Options{}), "/")
	inc := incidentHTML(t, page, "posture_unverified/contoso.com")
	if n := strings.Count(inc, `<div class="remedy">`); n != 2 {
		t.Errorf("%d remedies, want one per cause", n)
	}
	for _, c := range []string{"network_error", "timeout"} {
		if !strings.Contains(inc, `<h4><code class="cause">`+c+`</code>`) {
			t.Errorf("no remedy headed %s", c)
		}
	}
}

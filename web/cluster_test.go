package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// elsewhere is a check another cluster member runs, as the scheduler lists
// it: configuration, owner, no state.
func elsewhere(target, owner, ownerURL string) scheduler.CheckState {
	return scheduler.CheckState{ID: scheduler.MakeID(target, probe.IMAP, probe.XOAUTH2), Target: target,
		User: target + "@contoso.com", Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Expect: scheduler.ExpectOK,
		Status: scheduler.StatusElsewhere, Interval: time.Minute, Timeout: 30 * time.Second,
		Remote: &scheduler.Remote{Owner: owner, OwnerURL: ownerURL}}
}

// Any member's page and API list the whole fleet: a check run elsewhere is
// a cell linking to it on its owner, named in the summary and the API, and
// never offered a probe from here.
func TestClusterChecksElsewhereLinkTheirOwner(t *testing.T) {
	src := fleetSource(3, 1, 5*time.Minute, false)
	far := elsewhere("far-1", "m1", "http://127.0.0.1:9466/")
	bad := elsewhere("far-2", "m2", "javascript:alert(1)")
	sick := elsewhere("far-3", "m1", "http://127.0.0.1:9466/")
	sick.Remote.AnnouncedStatus, sick.Remote.AnnouncedCause, sick.Remote.AnnouncedSince = scheduler.StatusFailing,
		diagnose.CauseSMTPAuthDisabledTenant, now.Add(-time.Hour)
	src.checks = append(src.checks, far, bad, sick)
	h := newTestHandler(src, Options{ProbeNow: func(scheduler.CheckID) (bool, error) { return true, nil }})

	_, _, body := get(t, h, "/?lang=en")
	farURL := "http://127.0.0.1:9466/?" + url.Values{"check": {string(far.ID)}, "lang": {"en"}}.Encode()
	wantCell := `<a class="cell st-elsewhere" href="` + strings.ReplaceAll(farURL, "&", "&amp;") + `" title="` +
		string(far.ID) + `: run by another member: m1"`
	if !strings.Contains(body, wantCell) {
		t.Errorf("no cell linking %s to its owner; want %s", far.ID, wantCell)
	}
	if strings.Contains(body, "javascript:") {
		t.Error("an owner URL that is not http(s) was linked")
	}
	if !strings.Contains(body, `href="?check=`+url.QueryEscape(string(bad.ID))) {
		t.Errorf("a check whose owner gave no usable URL should open here")
	}
	if !strings.Contains(body, `<a class="cell st-elsewhere-failing" href="http://127.0.0.1:9466/?check=far-3`) ||
		!strings.Contains(body, `title="far-3/imap/xoauth2: run by another member: m1 — failing smtp_auth_disabled_tenant (as its owner last announced)"`) {
		t.Error("a check run elsewhere that its owner announced failing is not marked so")
	}
	if !strings.Contains(body, `<span class="badge st-elsewhere">run by another member</span> 3`) {
		t.Error("the summary does not count the checks run elsewhere")
	}
	if !strings.Contains(body, `<option value="elsewhere"`) {
		t.Error("the state filter cannot select checks run elsewhere")
	}

	// Opened here: where it runs, no probe button, no stale history.
	_, _, body = get(t, h, "/?lang=en&check="+url.QueryEscape(string(far.ID)))
	i := strings.Index(body, `<section id="detail">`)
	if i < 0 {
		t.Fatal("no detail section")
	}
	detail := body[i : i+strings.Index(body[i:], "</section>")]
	for _, want := range []string{`run by another member: m1`, `href="` + strings.ReplaceAll(farURL, "&", "&amp;") + `"`} {
		if !strings.Contains(detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, detail)
		}
	}
	if strings.Contains(detail, `data-action="probe"`) || strings.Contains(detail, `class="hist`) {
		t.Errorf("detail of a check run elsewhere offers a probe or shows history:\n%s", detail)
	}

	// The API: every check, the remote ones with their owner.
	_, _, js := get(t, h, "/api/v1/status")
	var resp struct {
		Summary map[string]int `json:"summary"`
		Checks  []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Remote *struct {
				Owner           string `json:"owner"`
				OwnerURL        string `json:"owner_url"`
				AnnouncedStatus string `json:"announced_status"`
			} `json:"remote"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(js), &resp); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range resp.Checks {
		switch {
		case c.ID == string(far.ID):
			found = c.Status == "elsewhere" && c.Remote != nil && c.Remote.Owner == "m1" && c.Remote.OwnerURL == "http://127.0.0.1:9466/"
		case c.ID == string(sick.ID):
			if c.Remote == nil || c.Remote.AnnouncedStatus != "failing" {
				t.Errorf("%s: the announced state is missing: %+v", c.ID, c.Remote)
			}
		case c.Status != "elsewhere" && c.Remote != nil:
			t.Errorf("%s has an owner but runs here", c.ID)
		}
	}
	if !found || len(resp.Checks) != 7 || resp.Summary["elsewhere"] != 3 {
		t.Errorf("API: %d checks, summary %v, remote check with owner found %v", len(resp.Checks), resp.Summary, found)
	}
}

func TestHandoverEventsSayWhatHappened(t *testing.T) {
	ev := scheduler.Event{Kind: scheduler.EventRegressed, Handover: scheduler.HandoverReleased}
	if got := eventLabel(&ev, langEN); got != msg(langEN, "kind.regressed")+" — moved to another member" {
		t.Errorf("released: %q", got)
	}
	ev.Handover = ""
	if got := eventLabel(&ev, langJA); got != msg(langJA, "kind.regressed") {
		t.Errorf("plain: %q", got)
	}
}

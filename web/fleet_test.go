package web

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// fleetSource is the scene: healthy targets and printers failing on
// a tenant-wide SMTP AUTH switch, each check with a day of history (one
// attempt per interval), the printers failing for the last 40 minutes.
func fleetSource(healthy, printers int, interval time.Duration, withHistory bool) *fakeSource {
	f := &fakeSource{history: map[scheduler.CheckID][]scheduler.HistoryEntry{}}
	failFrom := now.Add(-40 * time.Minute)
	hist := func(id scheduler.CheckID, failing bool) {
		if !withHistory {
			return
		}
		var hs []scheduler.HistoryEntry
		for t := now; t.After(now.Add(-24 * time.Hour)); t = t.Add(-interval) {
			e := scheduler.HistoryEntry{Time: t, OK: true, Cause: diagnose.CauseOK, Stage: probe.StageDone,
				Duration: time.Duration(300+t.Minute()*7) * time.Millisecond}
			if failing && !t.Before(failFrom) {
				e = scheduler.HistoryEntry{Time: t, Cause: diagnose.CauseSMTPAuthDisabledTenant, Stage: probe.StageAuth,
					Duration: 1400 * time.Millisecond, Reply: smtpDisabledReply}
			}
			hs = append(hs, e)
		}
		f.history[id] = hs
	}
	for i := 1; i <= healthy; i++ {
		name := fmt.Sprintf("mailbox-%05d", i)
		st := check(name, name+"@contoso.com", probe.IMAP, probe.XOAUTH2, scheduler.ExpectOK, scheduler.StatusOK, diagnose.CauseOK)
		st.Labels = map[string]string{"site": []string{"tokyo", "osaka"}[i%2]}
		st.LastAttempt = &probe.Attempt{OK: true, Stage: probe.StageDone, Duration: 300 * time.Millisecond,
			Transcript: []string{"C: a1 AUTHENTICATE XOAUTH2 ****", "S: a1 OK AUTHENTICATE completed."}}
		f.checks = append(f.checks, st)
		hist(st.ID, false)
	}
	for i := 1; i <= printers; i++ {
		name := fmt.Sprintf("printer-%d", i)
		st := check(name, name+"@contoso.com", probe.SMTP, probe.Basic, scheduler.ExpectOK, scheduler.StatusFailing, diagnose.CauseSMTPAuthDisabledTenant)
		st.Since, st.Confidence, st.PrevCause = failFrom, diagnose.Definitive, diagnose.CauseOK
		st.Labels = map[string]string{"kind": "printer"}
		reply := strings.Replace(smtpDisabledReply, "08DE1234ABCD", fmt.Sprintf("08DE0000%04d", i), 1)
		st.LastAttempt = &probe.Attempt{Stage: probe.StageAuth, Reply: reply, ErrorKind: probe.ErrRefused, Duration: 1400 * time.Millisecond,
			Transcript: []string{"S: 220 ready", "C: EHLO probe", "S: 250 AUTH LOGIN XOAUTH2", "C: AUTH LOGIN ****", "S: 334 UGFzc3dvcmQ6", "C: ****", "S: " + reply}}
		st.LastFinding = &diagnose.Finding{Cause: diagnose.CauseSMTPAuthDisabledTenant, Confidence: diagnose.Definitive,
			Evidence: []string{"smtp basic: the server said " + reply}}
		f.checks = append(f.checks, st)
		hist(st.ID, true)
		f.events = append(f.events, scheduler.Event{ID: fmt.Sprintf("ev%d", i), Time: failFrom.Add(time.Duration(i) * time.Minute),
			Kind: scheduler.EventRegressed, CheckID: st.ID, Target: name, User: st.User, Protocol: probe.SMTP, Mechanism: probe.Basic,
			Cause: diagnose.CauseSMTPAuthDisabledTenant, PrevCause: diagnose.CauseOK})
	}
	return f
}

// The "done when": 100 healthy targets and three printers failing
// on a tenant-wide SMTP AUTH switch open on one incident naming all three
// printers with its fix once, and every shown check has its history.
func TestStatusPageOneIncidentForTenantSwitch(t *testing.T) {
	for _, lang := range []string{"en", "ja"} {
		_, _, body := get(t, newTestHandler(fleetSource(100, 3, 5*time.Minute, true), Options{}), "/?lang="+lang)
		if n := strings.Count(body, `<article class="incident`); n != 1 {
			t.Fatalf("%s: %d incidents, want 1", lang, n)
		}
		inc := incidentHTML(t, body, "smtp_auth_disabled_tenant/contoso.com")
		for i := 1; i <= 3; i++ {
			if !strings.Contains(inc, fmt.Sprintf(`<strong class="itarget">printer-%d</strong>`, i)) {
				t.Errorf("%s: the incident does not name printer-%d", lang, i)
			}
			if !strings.Contains(inc, fmt.Sprintf(`id="check-printer-%d/smtp/basic"`, i)) {
				t.Errorf("%s: the incident does not list printer-%d's check", lang, i)
			}
		}
		if n := strings.Count(body, `<div class="remedy">`); n != 1 {
			t.Errorf("%s: %d remedy boxes, want 1", lang, n)
		}
		if n := strings.Count(body, "Set-TransportConfig -SmtpClientAuthenticationDisabled $False"); n != 1 {
			t.Errorf("%s: the fix is printed %d times, want once", lang, n)
		}
		// The same words from three servers (only the trace part differs)
		// are shown once at the head of the incident.
		if n := strings.Count(inc, `<pre class="words">535 5.7.139`); n != 1 {
			t.Errorf("%s: server words shown %d times in the incident, want once", lang, n)
		}
		// History: two strips per printer row, its availability, the
		// latency sparkline; a red run at the end of the 24 h strip.
		row := rowHTML(t, body, "printer-2/smtp/basic")
		if strings.Count(row, `<svg class="strip"`) != 2 || !strings.Contains(row, `<svg class="spark"`) {
			t.Errorf("%s: printer row lacks its history graphics:\n%.600s", lang, row)
		}
		// 24 h at 5 min is 288 attempts; the last 40 min (both ends) 9 failed.
		if !strings.Contains(row, `<span class="avail">96.9%</span>`) {
			t.Errorf("%s: printer availability missing or wrong:\n%s", lang, regexp.MustCompile(`<span class="avail">[^<]*</span>`).FindAllString(row, -1))
		}
		if !strings.Contains(row, `fill="`+colFail+`"/></svg>`) {
			t.Errorf("%s: the 24 h strip does not end red", lang)
		}
		// The timeline: the first failure and the three confirmations.
		if !strings.Contains(inc, `<svg class="timeline"`) {
			t.Errorf("%s: no timeline", lang)
		}
		if lang == "en" && (strings.Count(inc, "— confirmed <code>") != 3 || strings.Count(inc, "— first failure <code>") != 1) {
			t.Errorf("%s: timeline marks wrong:\n%s", lang, regexp.MustCompile(`<li>[^<]*— [^<]*<code>[^<]*</code></li>`).FindAllString(inc, -1))
		}
		// Healthy checks are grid cells, not tables.
		if n := strings.Count(body, `<a class="cell st-ok"`); n != 100 {
			t.Errorf("%s: %d healthy cells, want 100", lang, n)
		}
		if len(body) > 200<<10 {
			t.Errorf("%s: page is %d KiB", lang, len(body)>>10)
		}
	}
}

// At 60,000 checks the first view stays small: incidents first, capped
// rows, one page of the grid.
func TestStatusPageFirstViewAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 60,000 checks")
	}
	f := fleetSource(59_900, 100, 5*time.Minute, false)
	// Failures spread over 40 tenants, so there are many incidents too.
	for i := range f.checks[59_900:] {
		st := &f.checks[59_900+i]
		st.User = fmt.Sprintf("printer-%d@tenant%02d.example", i, i%40)
	}
	start := time.Now()
	_, _, body := get(t, newTestHandler(f, Options{}), "/")
	t.Logf("60,000 checks: first view %d KiB in %v", len(body)>>10, time.Since(start))
	if len(body) >= 1<<20 {
		t.Errorf("first view is %d bytes, want < 1 MiB", len(body))
	}
	if n := strings.Count(body, `<article class="incident`); n != incidentsMax {
		t.Errorf("%d incidents shown, want the first %d", n, incidentsMax)
	}
	if !strings.Contains(body, `rel="next"`) {
		t.Error("no next page for the grid")
	}
	// Filters narrow it: one label, one state.
	_, _, body = get(t, newTestHandler(f, Options{}), "/?label=site%3Dosaka&state=ok&page=30")
	if !strings.Contains(body, "29950 / 60000") || !strings.Contains(body, "page 30 / 30") {
		t.Errorf("filter by label and state: counts or pager wrong")
	}
}

func BenchmarkStatusPage60k(b *testing.B) {
	f := fleetSource(59_900, 100, 5*time.Minute, false)
	h := newTestHandler(f, Options{})
	b.ResetTimer()
	for b.Loop() {
		get(b, h, "/")
	}
}

func TestDropCorpusRefs(t *testing.T) {
	got := dropCorpusRefs([]string{"Exchange can take 5 to 18 seconds (exo-responses §2)", "IMAP (exo-responses I6) here", "plain"})
	want := []string{"Exchange can take 5 to 18 seconds", "IMAP here", "plain"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q", got)
	}
}

// Availability counts what met the expectation: for a posture check
// (expect: fail) a refusal is the healthy outcome.
func TestBuildHistory(t *testing.T) {
	e := func(min int, ok bool) scheduler.HistoryEntry {
		return scheduler.HistoryEntry{Time: now.Add(-time.Duration(min) * time.Minute), OK: ok, Duration: time.Second}
	}
	hs := []scheduler.HistoryEntry{e(1, true), e(2, true), e(3, false), e(4, true), e(60*30, false)} // the last is outside 24 h
	tests := []struct {
		exp    scheduler.Expectation
		window time.Duration
		want   string
	}{
		{scheduler.ExpectOK, 24 * time.Hour, "75.0%"},
		{scheduler.ExpectFail, 24 * time.Hour, "25.0%"},
		{scheduler.ExpectOK, 7 * 24 * time.Hour, "60.0%"},
	}
	for _, tc := range tests {
		hv := buildHistory(hs, tc.exp, now, tc.window, 84, "w", "en")
		if hv.Availability != tc.want {
			t.Errorf("%s %v: %s, want %s", tc.exp, tc.window, hv.Availability, tc.want)
		}
	}
	if hv := buildHistory(nil, scheduler.ExpectOK, now, time.Hour, 10, "w", "en"); hv.Availability != "" || hv.Attempts != 0 ||
		strings.Count(string(hv.Strip), "<rect") != 1 {
		t.Errorf("no history: %+v", hv)
	}
}

// An incident wider than the overview shows links to all its checks; the
// opened incident lists them (no grid), and a check opens on its own.
func TestIncidentAndCheckViews(t *testing.T) {
	h := newTestHandler(fleetSource(10, 9, 5*time.Minute, true), Options{})
	_, _, body := get(t, h, "/")
	inc := incidentHTML(t, body, "smtp_auth_disabled_tenant/contoso.com")
	if n := strings.Count(inc, `<tr id="check-printer-`); n != incidentMembersMax {
		t.Errorf("overview shows %d of 9 checks, want %d", n, incidentMembersMax)
	}
	// The remedy, shown once, has a ready fix line per affected mailbox.
	if n := strings.Count(inc, "Set-CasMailbox printer-"); n != 9 || strings.Contains(inc, "Set-CasMailbox &lt;mailbox&gt;") {
		t.Errorf("incident remedy: %d per-mailbox fix lines, want 9 and no placeholder", n)
	}
	if !strings.Contains(inc, `href="?incident=smtp_auth_disabled_tenant%2Fcontoso.com&amp;lang=en">All checks of this incident (3)`) {
		t.Errorf("no link to the rest of the incident:\n%s", inc[strings.Index(inc, "</table>"):])
	}
	_, _, body = get(t, h, "/?incident=smtp_auth_disabled_tenant%2Fcontoso.com")
	if n := strings.Count(body, `<tr id="check-printer-`); n != 9 || strings.Contains(body, `id="grid"`) {
		t.Errorf("opened incident: %d rows (want 9), grid shown: %v", n, strings.Contains(body, `id="grid"`))
	}
	_, _, body = get(t, h, "/?check=mailbox-00003%2Fimap%2Fxoauth2")
	if !strings.Contains(body, `<section id="detail">`) || !strings.Contains(body, `id="d-check-mailbox-00003/imap/xoauth2"`) ||
		!strings.Contains(body, `<span class="avail">100%</span>`) {
		t.Error("the check's own view lacks its row or its availability")
	}
}

// The JSON API gives durations in seconds, never nanoseconds, and times in
// RFC 3339.
func TestAPIDurationsInSeconds(t *testing.T) {
	h := newTestHandler(fleetSource(1, 1, 5*time.Minute, true), Options{})
	_, _, body := get(t, h, "/api/v1/status")
	var st struct {
		Time   string `json:"time"`
		Checks []struct {
			ID              string  `json:"id"`
			IntervalSeconds float64 `json:"interval_seconds"`
			TimeoutSeconds  float64 `json:"timeout_seconds"`
			LastDuration    float64 `json:"last_duration_seconds"`
			Since           string  `json:"since"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Checks) != 2 {
		t.Fatalf("%d checks", len(st.Checks))
	}
	for _, c := range st.Checks {
		if c.IntervalSeconds != 60 || c.TimeoutSeconds != 30 || c.LastDuration <= 0 {
			t.Errorf("%s: interval %v s, timeout %v s, last %v s", c.ID, c.IntervalSeconds, c.TimeoutSeconds, c.LastDuration)
		}
		if _, err := time.Parse(time.RFC3339, c.Since); err != nil {
			t.Errorf("%s: since %q is not RFC 3339", c.ID, c.Since)
		}
	}
	if _, err := time.Parse(time.RFC3339, st.Time); err != nil {
		t.Errorf("time %q is not RFC 3339", st.Time)
	}
	_, _, body = get(t, h, "/api/v1/checks/printer-1%2Fsmtp%2Fbasic/history?limit=2")
	var hr struct {
		History []struct {
			DurationSeconds float64 `json:"duration_seconds"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(body), &hr); err != nil || len(hr.History) != 2 || hr.History[0].DurationSeconds != 1.4 {
		t.Errorf("history: %v %+v", err, hr)
	}
	_, _, body = get(t, h, "/api/v1/checks/printer-1%2Fsmtp%2Fbasic")
	if !strings.Contains(body, `"interval_seconds": 60`) {
		t.Errorf("one check lacks interval_seconds")
	}
	for _, path := range []string{"/api/v1/status", "/api/v1/checks/printer-1%2Fsmtp%2Fbasic",
		"/api/v1/checks/printer-1%2Fsmtp%2Fbasic/history?limit=2", "/api/v1/events", "/api/v1/readiness"} {
		_, _, body := get(t, h, path)
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, k := range nanosecondKeys(v, "") {
			t.Errorf("%s: %s is a duration in nanoseconds", path, k)
		}
	}
}

// nanosecondKeys lists the keys of v that hold a duration that is not in
// seconds: the names the scheduler and probe types use for time.Duration.
func nanosecondKeys(v any, at string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "duration", "dur", "interval", "timeout", "window":
				out = append(out, at+"."+k)
			}
			out = append(out, nanosecondKeys(e, at+"."+k)...)
		}
	case []any:
		for i, e := range x {
			out = append(out, nanosecondKeys(e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return out
}

package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

//go:embed templates/*.html
var templateFS embed.FS

type pageRenderer struct {
	tmpl *template.Template
}

func newPageRenderer() *pageRenderer {
	t := template.Must(template.New("status.html").Funcs(template.FuncMap{
		"join": strings.Join,
	}).ParseFS(templateFS, "templates/*.html"))
	return &pageRenderer{tmpl: t}
}

// The view model: everything the template shows, already localized and
// sanitized, so the template holds no logic beyond loops and ifs.
type pageData struct {
	Lang, OtherLang string
	T               map[string]string
	Title           string
	Refresh         int
	Updated         string
	Summary         []summaryItem
	Targets         []targetView
	Events          []eventView
	EventsError     bool
	Readiness       readinessView
	ConfigError     string
	// ShowAlerts is false when the daemon sends no alerts.
	ShowAlerts bool
	Alerts     []deliveryView
	// Tenant is the tenant-reads section, rendered by web/tenants.go.
	Tenant template.HTML
}

type deliveryView struct {
	Time, Sink, SinkType, Status, StatusLabel string
	Title, Error                              string
	Checks                                    int
	OK, Final                                 bool
}

type summaryItem struct {
	Status, Label string
	N             int
}

type targetView struct {
	Name, User string
	Checks     []checkView
}

type checkView struct {
	ID                          string
	Protocol, Mechanism, Expect string
	Status, StatusLabel         string
	Cause, CauseTitle           string
	Confidence                  string
	Pending, PendingTitle       string
	// PendingLabel says what the confirm re-probe is about to settle, in
	// words: "confirming: ok" next to a failing cause read as if the
	// failure were being confirmed. PendingCause is "" when the label says
	// it all (a login that worked).
	PendingLabel, PendingCause string
	Since, SinceAgo            string
	Words                      string
	Evidence                   []string
	Remedy                     *remedyView
	Transcript                 []string
	HasAttempt                 bool
	LastRun                    string
	GuardActive                bool
	GuardUntil                 string
}

type remedyView struct {
	Summary                      string
	Inspect, Fix, Steps, Caveats []string
	Links                        []string
}

type eventView struct {
	Time, Kind, KindLabel, Check string
	Cause, CauseTitle, PrevCause string
}

type readinessView struct {
	Any, Ready     bool
	Breaking, Deps int
	Items          []readinessRow
}

type readinessRow struct {
	Target, User, Protocol string
	Basic, BasicStatus     string
	XOAUTH2, XOAUTH2Status string
	Verdict, VerdictLabel  string
	Breaks                 bool
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago is a coarse "3m ago" / "3m前".
func ago(now, t time.Time, lang string) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	if lang == langJA {
		return s + msg(lang, "ago")
	}
	return s + " " + msg(lang, "ago")
}

// pendingLabel words an unconfirmed outcome relative to the confirmed one.
func pendingLabel(st *scheduler.CheckState, lang string) (label, cause string) {
	switch {
	case st.Pending == "":
		return "", ""
	case st.Pending == diagnose.CauseOK && st.Expect == scheduler.ExpectFail:
		// A posture check: a working login is not a recovery.
		return msg(lang, "confirming_login_works"), ""
	case st.Pending == diagnose.CauseOK:
		return msg(lang, "confirming_recovery"), ""
	case st.Cause == "":
		return msg(lang, "confirming"), string(st.Pending)
	case st.Cause == diagnose.CauseOK:
		return msg(lang, "confirming_failure"), string(st.Pending)
	default:
		return msg(lang, "confirming_change"), string(st.Pending)
	}
}

func causeTitle(c diagnose.Cause, lang string) string {
	if c == "" {
		return ""
	}
	return diagnose.Title(c, lang)
}

// remedyVars fills the remedy's placeholders as package diagnose does for
// its findings, so the page and `exoprobe diagnose` print the same lines.
func remedyVars(st *scheduler.CheckState) diagnose.Vars {
	v := diagnose.Vars{Mailbox: st.User, User: st.User, Protocol: string(st.Protocol), Policy: st.AuthPolicy}
	if a := st.LastAttempt; a != nil && a.Token != nil {
		v.AppID, v.Tenant = a.Token.AppID, a.Token.TenantID
	}
	return v
}

func toRemedyView(r diagnose.Remedy) *remedyView {
	return &remedyView{Summary: r.Summary, Inspect: r.Inspect, Fix: r.Fix, Steps: r.Steps, Caveats: r.Caveats, Links: r.Links}
}

// postureRemedy answers an expect: fail check that logs in.
func postureRemedy(st *scheduler.CheckState, lang string) *remedyView {
	return toRemedyView(diagnose.PostureRemedy(lang, remedyVars(st)))
}

func serverWords(a *probe.Attempt) string {
	if a == nil {
		return ""
	}
	switch {
	case a.Reply != "":
		return a.Reply
	case a.AuthReply != "":
		return a.AuthReply
	case a.Token != nil && a.Token.Description != "":
		return a.Token.Description
	}
	return a.Error
}

func (h *handler) buildPage(lang string) pageData {
	now := h.opt.Now()
	other := langJA
	if lang == langJA {
		other = langEN
	}
	t := map[string]string{}
	for k := range messages[langEN] {
		t[k] = msg(lang, k)
	}
	d := pageData{Lang: lang, OtherLang: other, T: t, Title: h.opt.Title, Updated: fmtTime(now)}
	if h.opt.Refresh > 0 {
		d.Refresh = max(int(h.opt.Refresh.Seconds()), 1)
	}
	checks := h.src.Snapshot()
	counts := map[scheduler.Status]int{}
	byTarget := map[string]*targetView{}
	var order []string
	for _, raw := range checks {
		st := sanitizeState(raw)
		status := st.Status
		if status == "" {
			status = scheduler.StatusPending
		}
		counts[status]++
		tv := byTarget[st.Target]
		if tv == nil {
			tv = &targetView{Name: st.Target, User: st.User}
			byTarget[st.Target] = tv
			order = append(order, st.Target)
		}
		cv := checkView{
			ID: string(st.ID), Protocol: string(st.Protocol), Mechanism: string(st.Mechanism), Expect: string(st.Expect),
			Status: string(status), StatusLabel: msg(lang, "status."+string(status)),
			Cause: string(st.Cause), CauseTitle: causeTitle(st.Cause, lang), Confidence: string(st.Confidence),
			Pending: string(st.Pending), PendingTitle: causeTitle(st.Pending, lang),
			Since: fmtTime(st.Since), SinceAgo: ago(now, st.Since, lang), LastRun: fmtTime(st.LastRun),
		}
		cv.PendingLabel, cv.PendingCause = pendingLabel(&st, lang)
		if a := st.LastAttempt; a != nil {
			cv.HasAttempt = true
			cv.Words = serverWords(a)
			cv.Transcript = a.Transcript
		}
		if f := st.LastFinding; f != nil && (f.Cause == st.Cause || f.Cause == st.Pending) {
			cv.Evidence = f.Evidence
			if lang == langJA && len(f.EvidenceJA) > 0 {
				cv.Evidence = f.EvidenceJA
			}
		}
		switch status {
		case scheduler.StatusFailing:
			cv.Remedy = toRemedyView(diagnose.RemedyFor(st.Cause, lang, remedyVars(&st)))
		case scheduler.StatusUnexpectedlyOK:
			cv.Remedy = postureRemedy(&st, lang)
		}
		if g := st.LockoutGuard; g != nil && g.Active {
			cv.GuardActive, cv.GuardUntil = true, fmtTime(g.Until)
		}
		tv.Checks = append(tv.Checks, cv)
	}
	sort.Strings(order)
	for _, n := range order {
		d.Targets = append(d.Targets, *byTarget[n])
	}
	for _, s := range statuses {
		d.Summary = append(d.Summary, summaryItem{Status: string(s), Label: msg(lang, "status."+string(s)), N: counts[s]})
	}

	evs, err := h.src.Events(h.opt.PageEvents)
	if err != nil {
		h.opt.Logger.Error("web: events for the status page", "err", err)
		d.EventsError = true
	}
	for _, ev := range evs {
		d.Events = append(d.Events, eventView{
			Time: fmtTime(ev.Time), Kind: string(ev.Kind), KindLabel: msg(lang, "kind."+string(ev.Kind)),
			Check: string(ev.CheckID), Cause: string(ev.Cause), CauseTitle: causeTitle(ev.Cause, lang),
			PrevCause: string(ev.PrevCause),
		})
	}

	rd := ComputeReadiness(checks, now)
	d.Readiness = readinessView{Any: rd.Dependencies > 0, Ready: rd.Ready, Breaking: rd.Breaking, Deps: rd.Dependencies}
	for _, it := range rd.Items {
		row := readinessRow{Target: it.Target, User: it.User, Protocol: string(it.Protocol),
			Basic: string(it.BasicCheck), BasicStatus: msg(lang, "status."+string(it.BasicStatus)),
			XOAUTH2: string(it.XOAUTH2Check), Verdict: string(it.Verdict),
			VerdictLabel: msg(lang, "verdict."+string(it.Verdict)), Breaks: it.Breaks}
		if it.XOAUTH2Status != "" {
			row.XOAUTH2Status = msg(lang, "status."+string(it.XOAUTH2Status))
		}
		d.Readiness.Items = append(d.Readiness.Items, row)
	}
	if h.opt.AlertDeliveries != nil {
		d.ShowAlerts = true
		for _, dl := range h.opt.AlertDeliveries(h.opt.PageEvents) {
			v := deliveryView{Time: fmtTime(dl.Time), Sink: dl.Sink, SinkType: dl.SinkType, Status: string(dl.Status),
				StatusLabel: msg(lang, "alert."+string(dl.Status)), Title: dl.Title, Checks: dl.Checks, OK: dl.OK, Final: dl.Final}
			if !dl.OK {
				// The manager's errors are already free of secrets; scrub
				// anyway, as for every text the page did not write.
				v.Error = scrubText(string(dl.Reason) + ": " + dl.Error)
			}
			d.Alerts = append(d.Alerts, v)
		}
	}
	if h.opt.Tenants != nil {
		if sec, err := renderTenants(lang, h.opt.Tenants()); err != nil {
			h.opt.Logger.Error("web: tenant section", "err", err)
		} else {
			d.Tenant = sec
		}
	}
	if h.opt.ConfigStatus != nil {
		if cs := h.opt.ConfigStatus(); !cs.LastReloadOK && cs.Error != "" {
			d.ConfigError = scrubText(cs.Error)
		}
	}
	return d
}

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	var buf bytes.Buffer
	if err := h.page.tmpl.Execute(&buf, h.buildPage(lang)); err != nil {
		h.opt.Logger.Error("web: status page", "err", err)
		http.Error(w, "status page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Add("Vary", "Accept-Language")
	w.Write(buf.Bytes())
}

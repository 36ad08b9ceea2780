package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// Contexts for the page's sub-templates (text/template has no dict).
type rowCtxT struct {
	C checkView
	T map[string]string
	P string // id prefix: a check may show twice (its own view and an incident)
}

type rowsCtxT struct {
	Rows []checkView
	T    map[string]string
	P    string
}

type remedyCtxT struct {
	R *remedyView
	T map[string]string
	P string
}

type incCtxT struct {
	I incidentView
	T map[string]string
}

type pageRenderer struct {
	tmpl *template.Template
}

func newPageRenderer() *pageRenderer {
	t := template.Must(template.New("status.html").Funcs(template.FuncMap{
		"join":      strings.Join,
		"rowCtx":    func(c checkView, t map[string]string, p string) rowCtxT { return rowCtxT{c, t, p} },
		"rowsCtx":   func(c []checkView, t map[string]string, p string) rowsCtxT { return rowsCtxT{c, t, p} },
		"remedyCtx": func(r *remedyView, t map[string]string, p string) remedyCtxT { return remedyCtxT{r, t, p} },
		"incCtx":    func(i incidentView, t map[string]string) incCtxT { return incCtxT{i, t} },
		"list":      func(c checkView) []checkView { return []checkView{c} },
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
	// OtherLangURL keeps the filters when switching language.
	OtherLangURL string
	Filter       filterView
	Incidents    []incidentView
	// IncidentsMore counts incidents not shown on the overview.
	IncidentsMore int
	Unverified    []incidentView
	Guards        []guardView
	Grid          []cellView
	GridTotal     int
	Pager         pagerView
	Detail        *checkView
	// OneIncident is true when the page shows one incident's members.
	OneIncident bool
	OverviewURL string
	// ReadinessMore counts readiness rows not shown.
	ReadinessMore int
	Events        []eventView
	EventsError   bool
	Readiness     readinessView
	ConfigError   string
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
	Target, User                string
	URL                         string // the check's own view (?check=)
	Labels                      []string
	History                     []historyView
	NextRun                     string
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
	CanProbe                   bool
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
	} else if l := st.Last; l != nil {
		v.AppID, v.Tenant = l.AppID, l.Tenant
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

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	var buf bytes.Buffer
	if err := h.page.tmpl.Execute(&buf, h.buildPage(lang, parseFleetQuery(r))); err != nil {
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

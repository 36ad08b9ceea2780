package web

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

type filterView struct {
	Q, Target, Label, State, Cause string
	States                         []option
	Causes                         []option
	Active                         bool
	Matched, Total                 int
}

type option struct {
	Value, Label string
	Selected     bool
}

type incidentView struct {
	ID, Key             string
	Problem, Scope      string
	Status, StatusLabel string
	Cause, CauseTitle   string
	Since, SinceAgo     string
	N                   int
	Targets             []string
	TargetsMore         int
	Words               []string
	Remedies            []causeRemedy
	Members             []checkView
	More                int
	MoreURL             string
	Timeline            timelineView
	CanSilence          bool
	Silences            []silenceView
}

type guardView struct {
	Account, Until, Check string
	Failures, Limit       int
	CanClear              bool
}

type cellView struct {
	ID, Status, Title, URL string
}

type pagerView struct {
	Page, Pages      int
	PrevURL, NextURL string
}

// History depth read per check: enough for the 24 h strip at a 5 min
// interval on the overview; a check's own view reads the whole week.
const (
	historyRowLimit    = 300
	historyDetailLimit = 10000
)

// htmlID makes an id attribute value from a key (keys hold slashes and
// dots, which are valid in id but awkward in selectors; keep them simple).
func htmlID(prefix, key string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (h *handler) buildPage(lang string, q fleetQuery) pageData {
	now := h.opt.Now()
	other := langJA
	if lang == langJA {
		other = langEN
	}
	t := map[string]string{}
	for k := range messages[langEN] {
		t[k] = msg(lang, k)
	}
	d := pageData{Lang: lang, OtherLang: other, T: t, Title: h.opt.Title, Updated: fmtTime(now),
		OtherLangURL: q.values(other, q.Page), OverviewURL: fleetQuery{}.values(lang, 1)}
	if q.Check != "" {
		d.OtherLangURL = "?" + url.Values{"lang": {other}, "check": {q.Check}}.Encode()
	}
	if h.opt.Refresh > 0 {
		d.Refresh = max(int(h.opt.Refresh.Seconds()), 1)
	}
	res := runFleetQuery(h.src, q)
	for _, s := range statuses {
		d.Summary = append(d.Summary, summaryItem{Status: string(s), Label: msg(lang, "status."+string(s)), N: res.Counts[s]})
	}
	if res.Elsewhere > 0 {
		s := scheduler.StatusElsewhere
		d.Summary = append(d.Summary, summaryItem{Status: string(s), Label: msg(lang, "status."+string(s)), N: res.Counts[s]})
	}
	d.Filter = filterView{Q: q.Q, Target: q.Target, Label: q.Label, State: q.State, Cause: q.Cause,
		Active: q.filtered(), Matched: res.Matched, Total: res.Total}
	for _, s := range statuses {
		d.Filter.States = append(d.Filter.States, option{Value: string(s), Label: msg(lang, "status."+string(s)), Selected: q.State == string(s)})
	}
	if s := scheduler.StatusElsewhere; res.Elsewhere > 0 {
		d.Filter.States = append(d.Filter.States, option{Value: string(s), Label: msg(lang, "status."+string(s)), Selected: q.State == string(s)})
	}
	for _, c := range res.Causes {
		d.Filter.Causes = append(d.Filter.Causes, option{Value: c, Label: c, Selected: q.Cause == c})
	}

	// Events and deliveries feed the incidents' timelines.
	evs, err := h.src.Events(h.opt.PageEvents)
	if err != nil {
		h.opt.Logger.Error("web: events for the status page", "err", err)
		d.EventsError = true
	}
	var timelineEvs []scheduler.Event
	if tevs, err := h.src.Events(500); err == nil {
		timelineEvs = tevs
	}
	var deliveries []alerts.Delivery
	if h.opt.AlertDeliveries != nil {
		deliveries = h.opt.AlertDeliveries(500)
	}

	if res.Check != nil {
		cv := h.checkRow(res.Check, lang, now, historyDetailLimit)
		d.Detail = &cv
	}
	d.OneIncident = q.Incident != ""
	for i, g := range res.Incidents {
		if !d.OneIncident && i >= incidentsMax {
			d.IncidentsMore = len(res.Incidents) - incidentsMax
			break
		}
		d.Incidents = append(d.Incidents, h.incidentView(g, q, lang, now, timelineEvs, deliveries))
	}
	for i, g := range res.Unverified {
		if !d.OneIncident && i >= incidentsMax {
			break
		}
		d.Unverified = append(d.Unverified, h.incidentView(g, q, lang, now, timelineEvs, deliveries))
	}
	for _, st := range res.Guards {
		g := st.LockoutGuard
		d.Guards = append(d.Guards, guardView{Account: g.Account, Until: fmtTime(g.Until), Check: string(st.ID),
			Failures: len(g.Failures), Limit: g.Limit, CanClear: h.opt.ClearGuard != nil})
	}
	if !d.OneIncident {
		d.GridTotal = res.RestTotal
		for _, st := range res.Rest {
			title := string(st.ID) + ": " + msg(lang, "status."+string(st.Status))
			if st.Cause != "" {
				title += " — " + string(st.Cause) + " " + causeTitle(st.Cause, lang)
			}
			if st.Pending != "" {
				title += " (" + msg(lang, "confirming") + " " + string(st.Pending) + ")"
			}
			status := string(st.Status)
			if remote(st) {
				title, status = remoteTitle(st, lang), remoteCellStatus(st)
			}
			d.Grid = append(d.Grid, cellView{ID: string(st.ID), Status: status, Title: title,
				URL: checkURL(st, lang)})
		}
		d.Pager = pagerView{Page: res.Page, Pages: res.Pages}
		if res.Page > 1 {
			d.Pager.PrevURL = q.values(lang, res.Page-1)
		}
		if res.Page < res.Pages {
			d.Pager.NextURL = q.values(lang, res.Page+1)
		}
	}

	for _, ev := range evs {
		d.Events = append(d.Events, eventView{
			Time: fmtTime(ev.Time), Kind: string(ev.Kind), KindLabel: eventLabel(&ev, lang),
			Check: string(ev.CheckID), Cause: string(ev.Cause), CauseTitle: causeTitle(ev.Cause, lang),
			PrevCause: string(ev.PrevCause),
		})
	}

	rd := ComputeReadiness(h.src.Snapshot(), now)
	d.Readiness = readinessView{Any: rd.Dependencies > 0, Ready: rd.Ready, Breaking: rd.Breaking, Deps: rd.Dependencies}
	items := rd.Items
	if len(items) > readinessMax {
		// Breaking rows first: they are what the section is for.
		sort.SliceStable(items, func(i, j int) bool { return items[i].Breaks && !items[j].Breaks })
		d.ReadinessMore = len(items) - readinessMax
		items = items[:readinessMax]
	}
	for _, it := range items {
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
		for i, dl := range deliveries {
			if i >= h.opt.PageEvents {
				break
			}
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

// checkRow renders one check for a table row, with its history read from
// the source (limit attempts).
func (h *handler) checkRow(raw *scheduler.CheckState, lang string, now time.Time, limit int) checkView {
	full := *raw
	if remote(raw) {
		// Run by another member: where, and nothing stale from here.
		cv := checkView{ID: string(raw.ID), Target: raw.Target, User: raw.User, URL: checkURL(raw, lang),
			Protocol: string(raw.Protocol), Mechanism: string(raw.Mechanism), Expect: string(raw.Expect),
			Status: string(raw.Status), StatusLabel: ownerLabel(raw, lang)}
		if r := raw.Remote; r.AnnouncedStatus != "" {
			cv.PendingLabel = msg(lang, "status."+string(r.AnnouncedStatus)) + " (" + msg(lang, "owner_announced") + ")"
			if r.AnnouncedStatus != scheduler.StatusOK {
				cv.Cause, cv.CauseTitle = string(r.AnnouncedCause), causeTitle(r.AnnouncedCause, lang)
			}
			cv.Since, cv.SinceAgo = fmtTime(r.AnnouncedSince), ago(now, r.AnnouncedSince, lang)
		}
		return cv
	}
	if full.LastAttempt == nil {
		// The fleet query's states are compact: the transcript and
		// evidence of a shown check are loaded (O(1) per check).
		if f, ok := getCheck(h.src, raw.ID); ok {
			full = f
		}
	}
	st := sanitizeState(full)
	status := st.Status
	cv := checkView{
		ID: string(st.ID), Target: st.Target, User: st.User,
		URL:      "?" + url.Values{"lang": {lang}, "check": {string(st.ID)}}.Encode(),
		Protocol: string(st.Protocol), Mechanism: string(st.Mechanism), Expect: string(st.Expect),
		Status: string(status), StatusLabel: msg(lang, "status."+string(status)),
		Cause: string(st.Cause), CauseTitle: causeTitle(st.Cause, lang), Confidence: string(st.Confidence),
		Pending: string(st.Pending), PendingTitle: causeTitle(st.Pending, lang),
		Since: fmtTime(st.Since), SinceAgo: ago(now, st.Since, lang), LastRun: fmtTime(st.LastRun), NextRun: fmtTime(st.NextRun),
	}
	for k, v := range st.Labels {
		cv.Labels = append(cv.Labels, k+"="+v)
	}
	sort.Strings(cv.Labels)
	cv.PendingLabel, cv.PendingCause = pendingLabel(&st, lang)
	cv.CanProbe = h.opt.ProbeNow != nil
	if a := st.LastAttempt; a != nil {
		cv.HasAttempt = true
		cv.Words = serverWords(a)
		cv.Transcript = a.Transcript
	} else if l := st.Last; l != nil {
		cv.HasAttempt = true
		cv.Words = scrubText(l.Words)
	}
	if f := st.LastFinding; f != nil && (f.Cause == st.Cause || f.Cause == st.Pending) {
		cv.Evidence = f.Evidence
		if lang == langJA && len(f.EvidenceJA) > 0 {
			cv.Evidence = f.EvidenceJA
		}
		cv.Evidence = dropCorpusRefs(cv.Evidence)
	}
	if g := st.LockoutGuard; g != nil && g.Active {
		cv.GuardActive, cv.GuardUntil = true, fmtTime(g.Until)
	}
	if hs, err := h.src.History(st.ID, limit); err == nil {
		cv.History = []historyView{
			buildHistory(hs, st.Expect, now, 24*time.Hour, 96, "24h", lang),
			buildHistory(hs, st.Expect, now, 7*24*time.Hour, 84, "7d", lang),
		}
	} else {
		h.opt.Logger.Warn("web: history for the status page", "check", st.ID, "err", err)
	}
	return cv
}

// remedyFor is the incident's one remedy. Its placeholders are filled from
// the members where they agree (one mailbox, one policy); where they do
// not, the placeholder stays, and the members are listed beside it.
func incidentRemedy(g *incidentSet, lang string, rf diagnose.RemedyFunc) *remedyView {
	return remedyOf(g.Members, g.Status, lang, rf)
}

// incidentRemedies: one remedy per cause. A failing incident has one cause
// by its key; an unverified posture incident groups (as the alerts do)
// every reason that hid the posture in its scope, each with its own fix.
func incidentRemedies(g *incidentSet, lang string, rf diagnose.RemedyFunc) []causeRemedy {
	if g.Status != scheduler.StatusUnverified {
		return []causeRemedy{{R: incidentRemedy(g, lang, rf)}}
	}
	var order []diagnose.Cause
	by := map[diagnose.Cause][]*scheduler.CheckState{}
	for _, m := range g.Members {
		if _, ok := by[m.Cause]; !ok {
			order = append(order, m.Cause)
		}
		by[m.Cause] = append(by[m.Cause], m)
	}
	var out []causeRemedy
	for _, c := range order {
		cr := causeRemedy{R: remedyOf(by[c], g.Status, lang, rf)}
		if len(order) > 1 {
			cr.Cause, cr.Title = string(c), causeTitle(c, lang)
		}
		out = append(out, cr)
	}
	return out
}

// causeRemedy is a remedy with the cause it answers (Cause "" when the
// incident has one cause).
type causeRemedy struct {
	Cause, Title string
	R            *remedyView
}

func remedyOf(members []*scheduler.CheckState, status scheduler.Status, lang string, rf diagnose.RemedyFunc) *remedyView {
	first := members[0]
	v := remedyVars(first)
	protos := map[string]bool{}
	var users []string
	for _, m := range members {
		protos[string(m.Protocol)] = true
		users = append(users, m.User)
		if m.User != first.User {
			v.User, v.Mailbox = "", ""
		}
		if m.AuthPolicy != first.AuthPolicy {
			v.Policy = ""
		}
		mv := remedyVars(m)
		if mv.AppID != v.AppID {
			v.AppID = ""
		}
	}
	var ps []string
	for p := range protos {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	v.Protocol = strings.Join(ps, ",")
	switch status {
	case scheduler.StatusUnexpectedlyOK:
		return toRemedyView(diagnose.PostureRemedy(lang, v))
	case scheduler.StatusUnverified:
		rv := toRemedyView(rf.Render(first.Cause, lang, v, first.Target, users))
		if diagnose.ProvesPosture(first.Cause) {
			// Weakly inferred: the cause's own fix would turn Basic on.
			rv = toRemedyView(diagnose.PostureUnverifiedRemedy(first.Cause, lang, v))
		}
		rv.Summary = diagnose.PostureUnverifiedText(first.Cause, lang) + " " + rv.Summary
		return rv
	}
	// One fix line per mailbox where the fix names one.
	return toRemedyView(rf.Render(first.Cause, lang, v, first.Target, users))
}

func (h *handler) incidentView(g *incidentSet, q fleetQuery, lang string, now time.Time, evs []scheduler.Event, dls []alerts.Delivery) incidentView {
	first := g.Members[0]
	iv := incidentView{ID: htmlID("inc-", g.Key), Key: g.Key, Problem: g.Problem, Scope: g.Scope,
		Status: string(g.Status), StatusLabel: msg(lang, "status."+string(g.Status)),
		Cause: string(first.Cause), CauseTitle: causeTitle(first.Cause, lang),
		Since: fmtTime(g.Since), SinceAgo: ago(now, g.Since, lang), N: len(g.Members)}
	if g.Status == scheduler.StatusUnexpectedlyOK {
		iv.CauseTitle = msg(lang, "posture.breach")
	}
	iv.Remedies = incidentRemedies(g, lang, h.opt.Remedy)
	iv.CanSilence = h.opt.Silences != nil
	iv.Silences = h.incidentSilences(g.Key, now)
	// Names of the affected targets (the heading names them), and the
	// server's distinct words: the same words from 200 mailboxes once.
	seenT, seenW := map[string]bool{}, map[string]bool{}
	members := map[scheduler.CheckID]bool{}
	for _, m := range g.Members {
		members[m.ID] = true
		if !seenT[m.Target] {
			seenT[m.Target] = true
			if len(iv.Targets) < 20 {
				iv.Targets = append(iv.Targets, m.Target)
			} else {
				iv.TargetsMore++
			}
		}
		if len(iv.Words) < 3 {
			var w string
			if m.LastAttempt != nil {
				w = scrubText(serverWords(m.LastAttempt))
			} else if m.Last != nil {
				w = scrubText(m.Last.Words)
			}
			if k := wordsKey(w); w != "" && !seenW[k] {
				seenW[k] = true
				iv.Words = append(iv.Words, w)
			}
		}
	}
	// Members: a page of them when the incident is opened, else the first few.
	lo, hi := 0, min(len(g.Members), incidentMembersMax)
	if q.Incident == g.Key {
		lo = (q.Page - 1) * incidentPageSize
		if lo >= len(g.Members) {
			lo = 0
		}
		hi = min(len(g.Members), lo+incidentPageSize)
	}
	for _, m := range g.Members[lo:hi] {
		cv := h.checkRow(m, lang, now, historyRowLimit)
		if seenW[wordsKey(cv.Words)] {
			cv.Words = "" // said once at the head of the incident
		}
		iv.Members = append(iv.Members, cv)
	}
	if rest := len(g.Members) - hi; rest > 0 {
		iv.More = rest
		nq := fleetQuery{Incident: g.Key}
		page := 1
		if q.Incident == g.Key {
			nq = q
			page = q.Page + 1
		}
		iv.MoreURL = nq.values(lang, page)
	}
	// The timeline: first failure, confirmations, alerts, partial resolves.
	marks := []timelineMark{{Time: g.Since, Kind: "first", Label: string(first.ID)}}
	if len(g.Members) > 1 {
		marks[0].Label += " +" + strconv.Itoa(len(g.Members)-1)
	}
	for _, ev := range evs {
		if !members[ev.CheckID] || ev.Time.Before(g.Since) {
			continue
		}
		switch ev.Kind {
		case scheduler.EventRecovered:
			marks = append(marks, timelineMark{Time: ev.Time, Kind: "resolved", Label: string(ev.CheckID)})
		default:
			marks = append(marks, timelineMark{Time: ev.Time, Kind: "confirmed", Label: string(ev.CheckID)})
		}
	}
	for _, dl := range dls {
		if dl.GroupKey != g.Key || dl.Time.Before(g.Since) || dl.Skipped {
			continue
		}
		k := "alert"
		if !dl.OK {
			k = "alert_failed"
		}
		marks = append(marks, timelineMark{Time: dl.Time, Kind: k, Label: dl.Sink + " (" + msg(lang, "alert."+string(dl.Status)) + ")"})
	}
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].Time.Before(marks[j].Time) })
	if len(marks) > 30 {
		marks = append(marks[:1], marks[len(marks)-29:]...)
	}
	iv.Timeline = timelineSVG(marks, now, lang)
	return iv
}

// corpusRef is the project's note of where a wording was recorded
// ("(exo-responses S4 S5)"): useful in code and tests, noise to a reader.
var corpusRef = regexp.MustCompile(`\s*\(exo-responses [^)]*\)`)

func dropCorpusRefs(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = corpusRef.ReplaceAllString(s, "")
	}
	return out
}

// wordsKey drops what differs between two copies of the same reply (the
// bracketed trace part Exchange appends), so one incident shows its words
// once, not once per server that said them.
func wordsKey(w string) string {
	if i := strings.LastIndexByte(w, '['); i > 0 {
		return strings.TrimSpace(w[:i])
	}
	return w
}

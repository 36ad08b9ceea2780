package report

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// WriteFleet writes many targets' results as one summary table (targets ×
// checks) and then the findings grouped as the alerts and the status page
// group incidents (cause × scope, alerts.IncidentKey): a tenant-wide
// switch that fails 100 printers is one finding naming them, with its
// server words and remedy once.
func WriteFleet(w io.Writer, rs []Result, lang string) error {
	lang = normLang(lang)
	ja := lang == "ja"
	tr := func(en, j string) string {
		if ja {
			return j
		}
		return en
	}
	ew := &errWriter{w: w}

	// Columns: every check name, in order of first appearance.
	var cols []string
	colIdx := map[string]int{}
	for _, r := range rs {
		for _, a := range r.Attempts {
			if n := checkName(a); colIdx[n] == 0 {
				cols = append(cols, n)
				colIdx[n] = len(cols)
			}
		}
	}
	rows := [][]string{append([]string{tr("TARGET", "監視対象")}, upper(cols)...)}
	type member struct {
		r *Result
		i int
	}
	groups := map[string][]member{}
	var order []string
	asExpected, total := 0, 0
	for k := range rs {
		r := &rs[k]
		row := make([]string, len(cols)+1)
		row[0] = r.Target
		for j := 1; j < len(row); j++ {
			row[j] = "-"
		}
		for i, a := range r.Attempts {
			total++
			st := r.StatusAt(i)
			f := r.findingAt(i)
			cell := "ok"
			switch st {
			case "ok":
				asExpected++
				if r.ExpectAt(i) == ExpectFail {
					cell = tr("refused ✓", "拒否 ✓")
				}
			case "unexpectedly_ok":
				cell = tr("LOGS IN", "ログイン可")
			case "unverified":
				cell = tr("UNVERIFIED ", "未検証 ") + string(f.Cause)
			default:
				cell = "FAIL " + string(f.Cause)
			}
			row[colIdx[checkName(a)]] = cell
			if st == "ok" {
				continue
			}
			kind := scheduler.EventRegressed
			switch st {
			case "unexpectedly_ok":
				kind = scheduler.EventUnexpectedlyOK
			case "unverified":
				kind = scheduler.EventPostureUnverified
			}
			key, _, _ := alerts.IncidentKey(kind, f.Cause, a.User, r.Target)
			if _, ok := groups[key]; !ok {
				order = append(order, key)
			}
			groups[key] = append(groups[key], member{r, i})
		}
		rows = append(rows, row)
	}
	writeTable(ew, rows)
	fmt.Fprintf(ew, "\n%s\n", tr(fmt.Sprintf("%d targets, %d checks: %d as expected, %d not.", len(rs), total, asExpected, total-asExpected),
		fmt.Sprintf("監視対象 %d、チェック %d: 期待どおり %d、期待外れ %d。", len(rs), total, asExpected, total-asExpected)))
	if len(order) == 0 {
		return ew.err
	}
	// Widest first, as on the status page.
	sort.SliceStable(order, func(i, j int) bool { return len(groups[order[i]]) > len(groups[order[j]]) })
	fmt.Fprintf(ew, "\n%s\n", tr("FINDINGS BY INCIDENT", "インシデント別の所見"))
	for n, key := range order {
		ms := groups[key]
		first := ms[0]
		a := first.r.Attempts[first.i]
		f := first.r.findingAt(first.i)
		prob, scope, _ := strings.Cut(key, "/")
		title := diagnose.Title(f.Cause, lang)
		if prob == string(scheduler.EventUnexpectedlyOK) {
			title = tr("Basic authentication logs in where it must stay off", "無効であるべき基本認証でログインできます")
		}
		fmt.Fprintf(ew, "\n%d. %s — %s (%s: %s, %d %s)\n", n+1, prob, title, tr("scope", "範囲"), scope, len(ms), tr("checks", "件のチェック"))
		var names []string
		words := map[string]bool{}
		var said []string
		protos := map[string]bool{}
		sameUser := true
		var users []string
		for _, m := range ms {
			ma := m.r.Attempts[m.i]
			names = append(names, m.r.Target+" "+checkName(ma))
			protos[string(ma.Protocol)] = true
			if ma.User != a.User {
				sameUser = false
			}
			users = append(users, ma.User)
			if rep := firstNonEmpty(ma.Reply, ma.AuthReply, ma.Error); rep != "" {
				// The same words from many servers: only the trace part
				// (hostname, time, id in brackets) differs.
				k := traceTail.ReplaceAllString(visitURL.ReplaceAllString(rep, ""), "")
				if !words[k] && len(said) < 3 {
					words[k] = true
					said = append(said, replyCell(rep, 200))
				}
			}
		}
		if len(names) > 20 {
			names = append(names[:20], fmt.Sprintf(tr("… and %d more", "… ほか %d 件"), len(names)-20))
		}
		fmt.Fprintf(ew, "   %s: %s\n", tr("checks", "チェック"), strings.Join(names, ", "))
		for _, s := range said {
			fmt.Fprintf(ew, "   %s: %s\n", tr("server said", "サーバーの応答"), s)
		}
		var ps []string
		for p := range protos {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		v := first.r.varsFor(a, strings.Join(ps, ","))
		if !sameUser {
			v.User, v.Mailbox = "", ""
		}
		// Each member's policy comes from its own target (auth_policy) or
		// tenant read: the incident names one only where all agree, as
		// the status page does; else <policy> stays with its inspect lines.
		for _, m := range ms {
			if m.r.varsFor(m.r.Attempts[m.i], v.Protocol).Policy != v.Policy {
				v.Policy = ""
				break
			}
		}
		var rem diagnose.Remedy
		if prob == string(scheduler.EventUnexpectedlyOK) {
			rem = diagnose.PostureRemedy(lang, v)
		} else {
			// One fix line per mailbox where the fix names one.
			rem = diagnose.RemedyForMailboxes(f.Cause, lang, v, users)
		}
		if rem.Summary != "" {
			fmt.Fprintf(ew, "   %s\n", rem.Summary)
		}
		writeList(ew, "   "+tr("Inspect", "確認"), rem.Inspect, "     ")
		writeList(ew, "   "+tr("Fix", "修正"), rem.Fix, "     ")
	}
	return ew.err
}

var traceTail = regexp.MustCompile(`\s*\[[^\]]*\]\s*$`)

func upper(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = strings.ToUpper(x)
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

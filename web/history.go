package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/scheduler"
)

// History at a glance, drawn on the server as inline SVG: no script, no
// framework, nothing the strict CSP has to allow. Every number written
// into the markup is formatted here; no text from a server reaches it.

// Colours by outcome, the page's badge colours.
const (
	colOK      = "#1a7f37"
	colFail    = "#cf222e"
	colMixed   = "#d4a72c"
	colNone    = "#d0d7de"
	colLatency = "#0969da"
)

// historyView is one check's history over a window.
type historyView struct {
	Window       string // "24h" or "7d"
	Availability string // "99.3%" or "" without attempts
	Attempts     int
	Strip        template.HTML
	Sparkline    template.HTML
	P50          string // median latency, "0.42s"
}

// meetsExpectation: for a posture check (expect: fail) a refusal is the
// healthy outcome.
func meetsExpectation(e scheduler.HistoryEntry, exp scheduler.Expectation) bool {
	if exp == scheduler.ExpectFail {
		return !e.OK
	}
	return e.OK
}

// buildHistory buckets the entries (newest first, as the store returns
// them) into n slots over window ending at now.
func buildHistory(entries []scheduler.HistoryEntry, exp scheduler.Expectation, now time.Time, window time.Duration, n int, label string, lang string) historyView {
	type slot struct{ good, bad int }
	slots := make([]slot, n)
	start := now.Add(-window)
	step := window / time.Duration(n)
	var lat []time.Duration
	var latT []time.Time
	good, total := 0, 0
	for _, e := range entries {
		if e.Time.Before(start) || e.Time.After(now) {
			continue
		}
		i := min(int(e.Time.Sub(start)/step), n-1)
		total++
		if meetsExpectation(e, exp) {
			slots[i].good++
			good++
		} else {
			slots[i].bad++
		}
		if e.Duration > 0 {
			lat = append(lat, e.Duration)
			latT = append(latT, e.Time)
		}
	}
	hv := historyView{Window: label, Attempts: total}
	if total > 0 {
		hv.Availability = fmt.Sprintf("%.1f%%", 100*float64(good)/float64(total))
		if good == total {
			hv.Availability = "100%"
		}
	}
	// The strip: 3 px per slot.
	const w, h = 3, 14
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="strip" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, n*w, h, n*w, h,
		template.HTMLEscapeString(fmt.Sprintf("%s %s: %s", label, msg(lang, "availability"), orDash(hv.Availability))))
	// One rect per run of equal colour: a steady week is one rect, not 84.
	colour := func(s slot) string {
		switch {
		case s.good > 0 && s.bad > 0:
			return colMixed
		case s.bad > 0:
			return colFail
		case s.good > 0:
			return colOK
		}
		return colNone
	}
	for i := 0; i < n; {
		c, j := colour(slots[i]), i+1
		for j < n && colour(slots[j]) == c {
			j++
		}
		fmt.Fprintf(&b, `<rect x="%d" width="%d" height="%d" fill="%s"/>`, i*w, (j-i)*w, h, c)
		i = j
	}
	b.WriteString(`</svg>`)
	hv.Strip = template.HTML(b.String())
	if len(lat) > 1 {
		hv.Sparkline = sparkline(lat, latT, start, window, lang)
		hv.P50 = fmtSeconds(median(lat))
	}
	return hv
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func fmtSeconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func median(ds []time.Duration) time.Duration {
	c := append([]time.Duration(nil), ds...)
	for i := 1; i < len(c); i++ { // insertion sort: a few hundred values at most
		for j := i; j > 0 && c[j] < c[j-1]; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	return c[len(c)/2]
}

// sparkline draws latency over the window as one polyline, at most one
// point per pixel column (the column's maximum).
func sparkline(lat []time.Duration, at []time.Time, start time.Time, window time.Duration, lang string) template.HTML {
	const w, h = 120, 16
	cols := make([]time.Duration, w)
	seen := make([]bool, w)
	var top time.Duration
	for i, d := range lat {
		x := min(int(float64(at[i].Sub(start))/float64(window)*w), w-1)
		if x < 0 {
			continue
		}
		if d > cols[x] {
			cols[x] = d
		}
		seen[x] = true
		top = max(top, d)
	}
	if top <= 0 {
		return ""
	}
	var pts strings.Builder
	for x := 0; x < w; x++ {
		if !seen[x] {
			continue
		}
		y := float64(h-1) - float64(cols[x])/float64(top)*float64(h-2)
		fmt.Fprintf(&pts, "%d,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s max %s"><polyline fill="none" stroke="%s" stroke-width="1" points="%s"/></svg>`,
		w, h, w, h, template.HTMLEscapeString(msg(lang, "latency")), fmtSeconds(top), colLatency, strings.TrimSpace(pts.String())))
}

// timelineMark is one point on an incident's timeline.
type timelineMark struct {
	Time  time.Time
	Kind  string // first, confirmed, alert, resolved, alert_failed
	Label string
}

// timelineView is an incident's timeline: the SVG and the marks listed in
// words (the SVG's titles are for a mouse, the list for everyone).
type timelineView struct {
	SVG   template.HTML
	Marks []timelineRow
}

type timelineRow struct{ Time, Kind, Label string }

func timelineSVG(marks []timelineMark, now time.Time, lang string) timelineView {
	if len(marks) == 0 {
		return timelineView{}
	}
	from := marks[0].Time
	for _, m := range marks {
		if m.Time.Before(from) {
			from = m.Time
		}
	}
	span := now.Sub(from)
	if span <= 0 {
		span = time.Second
	}
	const w, h, pad = 360, 22, 6
	x := func(t time.Time) float64 {
		return pad + float64(t.Sub(from))/float64(span)*float64(w-2*pad)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, w, h,
		template.HTMLEscapeString(msg(lang, "timeline")))
	fmt.Fprintf(&b, `<line x1="%d" y1="11" x2="%d" y2="11" stroke="#8c959f" stroke-width="1"/>`, pad, w-pad)
	var tv timelineView
	for _, m := range marks {
		title := template.HTMLEscapeString(fmtTime(m.Time) + " " + msg(lang, "tl."+m.Kind) + " " + m.Label)
		cx := x(m.Time)
		switch m.Kind {
		case "first":
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="11" r="5" fill="%s"><title>%s</title></circle>`, cx, colFail, title)
		case "confirmed":
			fmt.Fprintf(&b, `<rect x="%.1f" y="6" width="8" height="10" fill="#82071e"><title>%s</title></rect>`, cx-4, title)
		case "alert":
			fmt.Fprintf(&b, `<path d="M%.1f 3 l5 9 h-10 z" fill="#bc4c00"><title>%s</title></path>`, cx, title)
		case "alert_failed":
			fmt.Fprintf(&b, `<path d="M%.1f 3 l5 9 h-10 z" fill="none" stroke="#bc4c00"><title>%s</title></path>`, cx, title)
		case "resolved":
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="11" r="5" fill="%s"><title>%s</title></circle>`, cx, colOK, title)
		}
		tv.Marks = append(tv.Marks, timelineRow{Time: fmtTime(m.Time), Kind: msg(lang, "tl."+m.Kind), Label: m.Label})
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="4" x2="%d" y2="18" stroke="#57606a" stroke-width="2"><title>%s</title></line>`, w-pad, w-pad,
		template.HTMLEscapeString(msg(lang, "tl.now")))
	b.WriteString(`</svg>`)
	tv.SVG = template.HTML(b.String())
	return tv
}

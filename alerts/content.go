package alerts

import (
	"fmt"
	"github.com/exoprobe/exoprobe/internal/inert"
	"sort"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Content is a notification rendered for people in one language. Every
// chat and mail sink builds its message from it, so that they all say the
// same thing.
type Content struct {
	Lang string `json:"lang"`
	// Title names the cause and the scope, e.g. "SMTP AUTH is disabled for
	// the organization — contoso.com".
	Title string `json:"title"`
	// Summary is one sentence: what happened, how many checks.
	Summary string `json:"summary"`
	// Facts are short name/value pairs (target, protocol, since…).
	Facts []Fact `json:"facts"`
	// Checks: one line per check (capped; the rest counted in Summary).
	Checks []string `json:"checks"`
	// Server is the server's words from one of the checks.
	Server string `json:"server,omitempty"`
	// Remedy is the remedy's own summary (what to do), distinct from
	// Summary (what happened); Links are its references. Firing only,
	// like Inspect, Fix, Steps and Caveats.
	Remedy  string   `json:"remedy,omitempty"`
	Inspect []string `json:"inspect,omitempty"`
	Fix     []string `json:"fix,omitempty"`
	Steps   []string `json:"steps,omitempty"`
	Caveats []string `json:"caveats,omitempty"`
	Links   []string `json:"links,omitempty"`
	Link    string   `json:"link,omitempty"`
	// Severity: critical (security posture), error (regression), warning
	// (posture unverified), info
	// (resolved, test).
	Severity string `json:"severity"`
}

// Fact is one name/value line.
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// maxCheckLines bounds the per-check lines: 200 mailboxes are summarised,
// not listed (Slack cuts a section at 3,000 characters).
const maxCheckLines = 10

type words struct {
	resolved, partly, reminder, cause, checks, target, protocol, mechanism, since, server, inspect, fix, steps,
	caveats, statusPage, securityTitle, changedTitle, testTitle, more, remedy, links string
	nFiring, nResolved, nTest, securityBody, resolvedMoved string
}

var dict = map[string]words{
	"en": {
		resolved: "Resolved", partly: "Partly resolved", reminder: "Still failing", cause: "Cause", checks: "Checks", target: "Target",
		protocol: "Protocol", mechanism: "Mechanism", since: "Since", server: "Server said", inspect: "Inspect",
		fix: "Fix", steps: "Steps", caveats: "Caveats", statusPage: "Status page", remedy: "What to do", links: "Links",
		securityTitle: "Security: %s login succeeds where it must fail",
		changedTitle:  "Cause changed: %s", testTitle: "exoprobe test alert", more: "… and %d more",
		nFiring: "%d check(s) left their expectation.", nResolved: "%d check(s) recovered; %d still failing.",
		nTest:         "This is a test notification sent by `exoprobe alerts test`; no check has changed.",
		securityBody:  "%d check(s) that must stay refused logged in: Basic authentication is accepted again. Treat this as a security event: find who changed the setting and turn it off.",
		resolvedMoved: "now: %s",
	},
	"ja": {
		resolved: "解決", partly: "一部解決", reminder: "継続中", cause: "原因", checks: "チェック", target: "対象",
		protocol: "プロトコル", mechanism: "認証方式", since: "発生時刻", server: "サーバーの応答", inspect: "確認コマンド",
		fix: "修正コマンド", steps: "手順", caveats: "注意事項", statusPage: "ステータス ページ", remedy: "対処", links: "参考リンク",
		securityTitle: "セキュリティ: 拒否されるべき %s ログインが成功",
		changedTitle:  "原因が変化: %s", testTitle: "exoprobe テスト通知 (test alert)", more: "… ほか %d 件",
		nFiring: "%d 件のチェックが期待した結果から外れました。", nResolved: "%d 件のチェックが回復しました (%d 件は継続中)。",
		nTest:         "これは `exoprobe alerts test` が送ったテスト通知です。チェックの状態は変わっていません。",
		securityBody:  "拒否されるべき %d 件のチェックでログインが成功しました。基本認証が再び受け付けられています。セキュリティ イベントとして扱い、設定を変更した人を確認して無効に戻してください。",
		resolvedMoved: "現在: %s",
	},
}

func langOf(lang string) string {
	if strings.HasPrefix(strings.ToLower(lang), "ja") {
		return "ja"
	}
	return "en"
}

// problemTitle is the short name of a group's problem.
func problemTitle(n *Notification, w words, lang string) string {
	if n.Problem == string(scheduler.EventUnexpectedlyOK) {
		return fmt.Sprintf(w.securityTitle, protoMech(n))
	}
	if n.Problem == problemUnverified {
		return fmt.Sprintf(unverifiedWords[langOf(lang)].title, protoMech(n))
	}
	return diagnose.Title(diagnose.Cause(n.Problem), lang)
}

// protoMech names the protocols and mechanisms of a notification's checks,
// e.g. "IMAP Basic" or "IMAP/POP Basic".
func protoMech(n *Notification) string {
	ps, ms := map[string]bool{}, map[string]bool{}
	for _, m := range append(append([]Member(nil), n.Firing...), n.Resolved...) {
		ps[strings.ToUpper(m.Protocol)] = true
		ms[mechName(m.Mechanism)] = true
	}
	return strings.Join(keys(ps), "/") + " " + strings.Join(keys(ms), "/")
}

func mechName(m string) string {
	if m == "xoauth2" {
		return "XOAUTH2"
	}
	if m == "" {
		return ""
	}
	return strings.ToUpper(m[:1]) + m[1:]
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Render builds the human content of a notification in "en" or "ja".
func Render(n *Notification, lang string) Content {
	lang = langOf(lang)
	if tenantProblem(n.Problem) && n.Kind != KindTest {
		return renderTenant(n, lang)
	}
	w := dict[lang]
	c := Content{Lang: lang, Link: n.StatusURL, Severity: "error"}
	title := problemTitle(n, w, lang)
	posture := n.Problem == string(scheduler.EventUnexpectedlyOK)
	if posture {
		c.Severity = "critical"
	}
	members := n.Firing
	switch {
	case n.Kind == KindTest:
		c.Severity = "info"
		if n.Status == StatusResolved {
			members = n.Resolved
			title = w.resolved + ": " + title
		}
		c.Title = w.testTitle + " — " + title + " — " + n.Scope
		c.Summary = w.nTest
	case n.Status == StatusResolved || n.Kind == scheduler.EventRecovered:
		c.Severity = "info"
		members = n.Resolved
		prefix := w.resolved
		if n.Status != StatusResolved {
			// Partial: the group still fires, which the title must not hide.
			prefix, c.Severity = w.partly, "error"
		}
		c.Title = prefix + ": " + title + " — " + n.Scope
		c.Summary = fmt.Sprintf(w.nResolved, len(n.Resolved), len(n.Firing))
	default:
		switch {
		case n.Repeat:
			title = w.reminder + ": " + title
		case n.Kind == scheduler.EventCauseChanged:
			title = fmt.Sprintf(w.changedTitle, title)
		}
		c.Title = title + " — " + n.Scope
		if posture {
			c.Summary = fmt.Sprintf(w.securityBody, len(n.Firing))
		} else {
			c.Summary = fmt.Sprintf(w.nFiring, len(n.Firing))
		}
	}
	if len(members) > 1 {
		c.Title += fmt.Sprintf(" (%d)", len(members))
	}
	unverified := n.Problem == problemUnverified
	if unverified && n.Status == StatusFiring && n.Kind != KindTest {
		c.Severity = "warning"
	}
	if !posture && !unverified && n.Problem != "" {
		c.Facts = append(c.Facts, Fact{w.cause, n.Problem})
	}
	var first *Member
	if len(members) > 0 {
		first = &members[0]
		if len(members) == 1 {
			c.Facts = append(c.Facts, Fact{w.target, targetName(first)})
		}
		c.Facts = append(c.Facts,
			Fact{w.protocol, joinField(members, func(m *Member) string { return strings.ToUpper(m.Protocol) })},
			Fact{w.mechanism, joinField(members, func(m *Member) string { return mechName(m.Mechanism) })},
			Fact{w.since, earliest(members).UTC().Format(time.RFC3339)})
		for i := range members {
			if i == maxCheckLines {
				c.Checks = append(c.Checks, fmt.Sprintf(w.more, len(members)-maxCheckLines))
				break
			}
			m := &members[i]
			line := fmt.Sprintf("%s %s/%s", targetName(m), m.Protocol, m.Mechanism)
			if n.Kind == scheduler.EventRecovered && m.NowCause != "" && m.NowCause != diagnose.CauseOK {
				line += " (" + fmt.Sprintf(w.resolvedMoved, m.NowCause) + ")"
			}
			c.Checks = append(c.Checks, line)
		}
		for i := range members {
			if members[i].Reply != "" && n.Status != StatusResolved && n.Kind != scheduler.EventRecovered {
				// Control characters made visible: the reply reaches
				// mail readers, chat clients and terminals.
				c.Server = inert.Line(members[i].Reply)
				break
			}
		}
	}
	if unverified {
		unverifiedContent(&c, n, lang, first)
		return c
	}
	if n.Status == StatusFiring && first != nil {
		var r diagnose.Remedy
		if posture {
			r = diagnose.PostureRemedy(lang, diagnose.Vars{Mailbox: first.User, User: first.User, Protocol: first.Protocol,
				Policy: first.AuthPolicy})
		} else {
			// One fix line per mailbox where the fix names one: a
			// tenant-wide incident must not aim its fix at the first
			// printer only.
			users := make([]string, 0, len(members))
			for i := range members {
				users = append(users, members[i].User)
			}
			r = n.remedy.Render(diagnose.Cause(n.Problem), lang, diagnose.Vars{
				Protocol: first.Protocol, Tenant: n.Scope, Policy: first.AuthPolicy}, first.Target, users)
		}
		c.Remedy, c.Inspect, c.Fix, c.Steps, c.Caveats, c.Links = r.Summary, r.Inspect, r.Fix, r.Steps, r.Caveats, r.Links
	}
	return c
}

func targetName(m *Member) string {
	if m.User != "" && m.User != m.Target {
		return m.Target + " <" + m.User + ">"
	}
	return m.Target
}

func joinField(ms []Member, f func(*Member) string) string {
	set := map[string]bool{}
	for i := range ms {
		set[f(&ms[i])] = true
	}
	return strings.Join(keys(set), ", ")
}

func earliest(ms []Member) time.Time {
	var t time.Time
	for _, m := range ms {
		if !m.Since.IsZero() && (t.IsZero() || m.Since.Before(t)) {
			t = m.Since
		}
	}
	return t
}

// Text is the content as plain text (email bodies, webhook "text").
func (c *Content) Text() string {
	var b strings.Builder
	w := dict[c.Lang]
	b.WriteString(c.Summary + "\n\n")
	for _, f := range c.Facts {
		fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
	}
	if len(c.Checks) > 0 {
		fmt.Fprintf(&b, "\n%s:\n", w.checks)
		for _, l := range c.Checks {
			b.WriteString("  - " + l + "\n")
		}
	}
	if c.Server != "" {
		fmt.Fprintf(&b, "\n%s:\n  %s\n", w.server, c.Server)
	}
	if c.Remedy != "" {
		fmt.Fprintf(&b, "\n%s:\n  %s\n", w.remedy, c.Remedy)
	}
	block := func(name string, lines []string, prefix string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:\n", name)
		for _, l := range lines {
			b.WriteString(prefix + l + "\n")
		}
	}
	block(w.inspect, c.Inspect, "  ")
	block(w.fix, c.Fix, "  ")
	block(w.steps, c.Steps, "  - ")
	block(w.caveats, c.Caveats, "  - ")
	block(w.links, c.Links, "  - ")
	if c.Link != "" {
		fmt.Fprintf(&b, "\n%s: %s\n", w.statusPage, c.Link)
	}
	return b.String()
}

// Markdown is the content in Slack's mrkdwn (code blocks for PowerShell).
// Every piece of text is escaped (slackEscape): a check line such as
// "scanner <scanner@contoso.com>" or a server reply would otherwise be
// read as a link or a mention.
func (c *Content) Markdown() string {
	var b strings.Builder
	w := dict[c.Lang]
	e := slackEscape
	b.WriteString(e(c.Summary) + "\n")
	for _, f := range c.Facts {
		fmt.Fprintf(&b, "*%s:* %s\n", e(f.Name), e(f.Value))
	}
	if len(c.Checks) > 0 {
		fmt.Fprintf(&b, "*%s:*\n", e(w.checks))
		for _, l := range c.Checks {
			b.WriteString("• " + e(l) + "\n")
		}
	}
	if c.Server != "" {
		fmt.Fprintf(&b, "*%s:* `%s`\n", e(w.server), e(strings.ReplaceAll(c.Server, "`", "'")))
	}
	if c.Remedy != "" {
		fmt.Fprintf(&b, "*%s:* %s\n", e(w.remedy), e(c.Remedy))
	}
	code := func(name string, lines []string) {
		if len(lines) > 0 {
			// A ``` inside a line would close the block early.
			body := strings.ReplaceAll(strings.Join(lines, "\n"), "```", "'''")
			fmt.Fprintf(&b, "*%s:*\n```\n%s\n```\n", e(name), e(body))
		}
	}
	code(w.inspect, c.Inspect)
	code(w.fix, c.Fix)
	list := func(name string, lines []string, wrap string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "*%s:*\n", e(name))
		for _, l := range lines {
			b.WriteString("• " + wrap + e(l) + wrap + "\n")
		}
	}
	list(w.steps, c.Steps, "")
	list(w.caveats, c.Caveats, "_")
	// Bare URLs: Slack links them itself (an escaped & stays part of
	// the URL).
	list(w.links, c.Links, "")
	return b.String()
}

// slackEscape turns the three characters Slack reserves for its own
// markup (<@U123>, <url|text>, &) into the entities Slack requires.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// slackClip cuts mrkdwn to at most n runes without leaving a ``` code
// block open (the rest of the message would render as code), an entity
// cut in half, or half a line (an inline `code` span left open): it cuts at
// the last line break that fits, closes a block it is inside, and ends
// with "…".
func slackClip(md string, n int) string {
	r := []rune(md)
	if len(r) <= n {
		return md
	}
	const tail = "\n```\n…" // the most that is appended below
	cut := string(r[:max(n-len([]rune(tail)), 0)])
	if i := strings.LastIndexByte(cut, '\n'); i >= 0 {
		cut = cut[:i+1]
	} else if j := strings.LastIndexByte(cut, '&'); j >= 0 && !strings.Contains(cut[j:], ";") {
		cut = cut[:j]
	}
	if strings.Count(cut, "```")%2 == 1 {
		if !strings.HasSuffix(cut, "\n") {
			cut += "\n"
		}
		cut += "```\n"
	}
	return cut + "…"
}

// Words exposes a label in the content's language (for sinks' headings).
func (c *Content) Words() (inspect, fix, caveats, statusPage, server, checks string) {
	w := dict[c.Lang]
	return w.inspect, w.fix, w.caveats, w.statusPage, w.server, w.checks
}

// RemedyWords are the headings of the remedy's other parts.
func (c *Content) RemedyWords() (remedy, steps, links string) {
	w := dict[c.Lang]
	return w.remedy, w.steps, w.links
}

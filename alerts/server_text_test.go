package alerts

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// A reply written to fool whoever reads the alert: a markdown link, a
// Slack link, HTML, a forged header line and terminal escapes.
const trapReply = "535 5.7.139 Authentication unsuccessful. [Fix it here](https://evil.example/fix) <https://evil.example|click> " +
	"<a href=\"https://evil.example\">x</a>\r\nBcc: victim@contoso.com\r\n\x1b]0;pwned\x07 \u202eexe.txt"

func trapNotification() Notification {
	ev := event(scheduler.EventRegressed, "a@contoso.com", probe.SMTP, diagnose.CauseBasicAuthDisabled, diagnose.CauseOK)
	m := memberOf(ev)
	m.Reply = trapReply
	return Notification{ID: "n1", Kind: scheduler.EventRegressed, Status: StatusFiring, Problem: string(diagnose.CauseBasicAuthDisabled),
		Scope: "contoso.com", Time: time.Now(), Firing: []Member{m}}
}

// Issue 9: Teams renders markdown in TextBlocks; the server's reply must
// reach the card only as plain text (a RichTextBlock's TextRun), so no
// link from a server is clickable.
func TestTeamsServerTextPlain(t *testing.T) {
	n := trapNotification()
	card := TeamsPayload(&n, "en")["attachments"].([]map[string]any)[0]["content"].(map[string]any)
	var runs []string
	for _, el := range card["body"].([]map[string]any) {
		switch el["type"] {
		case "TextBlock":
			if txt, _ := el["text"].(string); strings.Contains(txt, "evil.example") {
				t.Errorf("server text in a markdown TextBlock: %q", txt)
			}
		case "FactSet":
			b, _ := json.Marshal(el)
			if strings.Contains(string(b), "evil.example") {
				t.Errorf("server text in a FactSet: %s", b)
			}
		case "RichTextBlock":
			for _, in := range el["inlines"].([]map[string]any) {
				runs = append(runs, in["text"].(string))
			}
		}
	}
	joined := strings.Join(runs, "\n")
	if !strings.Contains(joined, "[Fix it here](https://evil.example/fix)") {
		t.Errorf("the reply is not shown as plain text: %q", joined)
	}
	if strings.ContainsAny(joined, "\x1b\x07\r\u202e") {
		t.Errorf("control characters reach the card: %q", joined)
	}
}

// Email: the reply cannot add header lines or escape sequences to the
// message; Slack: no link or mention from the reply.
func TestEmailAndSlackServerText(t *testing.T) {
	n := trapNotification()
	msg := string((&Email{Name: "e", From: "exoprobe@contoso.com", To: []string{"ops@contoso.com"}, Lang: "en"}).Message(&n, time.Now()))
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	if strings.Contains(head, "victim") || strings.Contains(head, "Bcc") {
		t.Errorf("reply reached the headers:\n%s", head)
	}
	if strings.ContainsAny(body, "\x1b\x07") || strings.Contains(body, "=1B") || strings.Contains(body, "\r\nBcc: victim") {
		t.Errorf("reply's controls reach the body:\n%s", body)
	}
	md := SlackPayload(&n, "en")
	b, _ := json.Marshal(md)
	if strings.Contains(string(b), "<https://evil.example|click>") || strings.Contains(string(b), "<a href") {
		t.Errorf("Slack message keeps a live link from the reply: %s", b)
	}
}

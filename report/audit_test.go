package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// The Tenant and Mailbox replies (corpus S4, S6) differ only at their end:
// the table's cell must keep that end, so the two rows read differently.
func TestReplyCellKeepsDistinguishingEnd(t *testing.T) {
	s4 := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]"
	s6 := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information."
	mk := func(user, reply string) probe.Attempt {
		return probe.Attempt{User: user, Protocol: probe.SMTP, Mechanism: probe.Basic, Stage: probe.StageAuth,
			Reply: reply, ErrorKind: probe.ErrRefused, Duration: time.Second}
	}
	for _, c := range []struct{ reply, want string }{{s4, "for the Tenant."}, {s6, "for the Mailbox."}} {
		var buf bytes.Buffer
		if err := WriteText(&buf, New("t", []probe.Attempt{mk("a@contoso.com", c.reply)}, diagnose.Vars{}), "en"); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(buf.String(), "\n")
		var row string
		for _, l := range lines {
			if strings.HasPrefix(l, "smtp ") {
				row = l
			}
		}
		if !strings.Contains(row, c.want) || !strings.Contains(row, "535 5.7.139") {
			t.Errorf("table row lacks %q or the status code:\n%s", c.want, row)
		}
	}
	for _, in := range []string{s4, strings.Repeat("x", 200)} {
		if got := replyCell(in, 80); utf8.RuneCountInString(got) > 80 {
			t.Errorf("replyCell(%q) is %d runes", in, utf8.RuneCountInString(got))
		}
	}
	if got := replyCell("short reply", 80); got != "short reply" {
		t.Errorf("short: %q", got)
	}
}

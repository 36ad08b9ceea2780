package diagnose

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A tenant-wide SMTP AUTH switch failing three printers: the mailbox fix is
// one ready line per printer, none left with a placeholder, none aimed at
// the first printer only.
func TestRemedyForMailboxes(t *testing.T) {
	mbs := []string{"printer2@contoso.com", "printer1@contoso.com", "printer3@contoso.com", "printer1@contoso.com"}
	for _, lang := range []string{"en", "ja"} {
		r := RemedyForMailboxes(CauseSMTPAuthDisabledTenant, lang, Vars{Protocol: "smtp"}, mbs)
		want := []string{
			"Set-CasMailbox printer1@contoso.com -SmtpClientAuthenticationDisabled $False",
			"Set-CasMailbox printer2@contoso.com -SmtpClientAuthenticationDisabled $False",
			"Set-CasMailbox printer3@contoso.com -SmtpClientAuthenticationDisabled $False",
		}
		if !slices.Equal(r.Fix, want) {
			t.Errorf("%s: fix %q, want %q", lang, r.Fix, want)
		}
		for _, l := range append(r.Inspect, r.Fix...) {
			if strings.Contains(l, "<mailbox>") || strings.Contains(l, "<user>") {
				t.Errorf("%s: placeholder left: %q", lang, l)
			}
		}
	}
	one := RemedyForMailboxes(CauseSMTPAuthDisabledTenant, "en", Vars{Protocol: "smtp"}, []string{"a@contoso.com", "a@contoso.com"})
	if !slices.Equal(one.Fix, RemedyFor(CauseSMTPAuthDisabledTenant, "en", Vars{Protocol: "smtp", Mailbox: "a@contoso.com", User: "a@contoso.com"}).Fix) {
		t.Errorf("one mailbox: %q", one.Fix)
	}
	var many []string
	for i := range MaxMailboxLines + 1 {
		many = append(many, fmt.Sprintf("p%d@contoso.com", i))
	}
	r := RemedyForMailboxes(CauseSMTPAuthDisabledTenant, "en", Vars{Protocol: "smtp"}, many)
	if len(r.Fix) != 1 || !strings.Contains(r.Fix[0], "<mailbox>") || !strings.Contains(strings.Join(r.Steps, "\n"), "each mailbox") {
		t.Errorf("beyond %d mailboxes: fix %q steps %q", MaxMailboxLines, r.Fix, r.Steps)
	}
}

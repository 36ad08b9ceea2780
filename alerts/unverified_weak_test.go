package alerts

import (
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// A posture check unverified because its basic_auth_disabled was only
// weakly inferred (issue 8 item 1) alerts with what would prove it, never
// with basic_auth_disabled's own remedy, which would turn Basic on.
func TestPostureUnverifiedWeakAlert(t *testing.T) {
	ev := event(scheduler.EventPostureUnverified, "scanner@contoso.com", probe.IMAP, diagnose.CauseBasicAuthDisabled, diagnose.CauseBasicAuthDisabled)
	ev.Expect = scheduler.ExpectFail
	n := &Notification{Status: StatusFiring, Kind: scheduler.EventPostureUnverified, Problem: problemOf(&ev), Scope: "contoso.com",
		Firing: []Member{memberOf(ev)}}
	for _, lang := range []string{"en", "ja"} {
		c := Render(n, lang)
		all := c.Text()
		if !strings.Contains(c.Remedy, diagnose.PostureUnverifiedText(diagnose.CauseBasicAuthDisabled, lang)) || !strings.Contains(all, "password_file") {
			t.Errorf("%s: the alert does not say what would prove the posture:\n%s", lang, all)
		}
		if strings.Contains(all, "Set-AuthenticationPolicy") || len(c.Fix) != 0 {
			t.Errorf("%s: a weakly unverified posture alert offers a Basic policy line:\n%s", lang, all)
		}
	}
}

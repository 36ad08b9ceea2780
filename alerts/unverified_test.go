package alerts

import (
	"context"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// A posture check refused for a reason that proves nothing (issue 8) is its
// own alert: group posture_unverified, a warning, the remedy of the cause
// that hides the posture, never a line that turns Basic on.
func TestPostureUnverifiedAlert(t *testing.T) {
	ev := event(scheduler.EventPostureUnverified, "scanner@contoso.com", probe.IMAP, diagnose.CauseNetworkError, diagnose.CauseBasicAuthDisabled)
	ev.Expect = scheduler.ExpectFail
	if got := GroupKey(&ev); got != "posture_unverified/contoso.com" {
		t.Errorf("group key %q", got)
	}
	n := &Notification{Status: StatusFiring, Kind: scheduler.EventPostureUnverified, Problem: problemOf(&ev), Scope: "contoso.com",
		Firing: []Member{memberOf(ev)}}
	for _, lang := range []string{"en", "ja"} {
		c := Render(n, lang)
		want := map[string]string{"en": "Posture unverified: IMAP Basic", "ja": "ポスチャ未検証"}[lang]
		if !strings.HasPrefix(c.Title, want) || c.Severity != "warning" {
			t.Errorf("%s: title %q severity %q", lang, c.Title, c.Severity)
		}
		all := c.Text()
		if !strings.Contains(all, string(diagnose.CauseNetworkError)) || !strings.Contains(c.Remedy, diagnose.PostureUnverifiedText(diagnose.CauseNetworkError, lang)) {
			t.Errorf("%s: the cause hiding the posture is not named:\n%s", lang, all)
		}
		if strings.Contains(all, "Set-AuthenticationPolicy") || strings.Contains(all, "AllowBasicAuth") {
			t.Errorf("%s: an unverified posture alert offers a Basic policy line:\n%s", lang, all)
		}
	}
	resolved := *n
	resolved.Status, resolved.Resolved, resolved.Firing = StatusResolved, resolved.Firing, nil
	if c := Render(&resolved, "en"); c.Severity != "info" {
		t.Errorf("resolved severity %q", c.Severity)
	}

	am := newReceiver(t, 200, "")
	a := &Alertmanager{Name: "am", URL: NewSecret(am.srv.URL)}
	if _, err := a.Notify(context.Background(), []Notification{*n}); err != nil {
		t.Fatal(err)
	}
	b, _ := am.all()
	as := decode[[]AMAlert](t, b[0])
	if len(as) != 1 || as[0].Labels["alertname"] != "ExoprobePostureUnverified" || as[0].Labels["exoprobe_severity"] != "warning" {
		t.Errorf("alertmanager alerts %+v", as)
	}
}

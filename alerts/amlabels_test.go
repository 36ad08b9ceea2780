package alerts

import (
	"context"
	"testing"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The Alertmanager sink keeps a target's own severity (the example's
// severity: page|ticket drives the operator's routes), puts exoprobe's
// classification under exoprobe_severity, and adds the tenant domain.
func TestAlertmanagerKeepsTargetSeverity(t *testing.T) {
	am := newReceiver(t, 200, "")
	a := &Alertmanager{Name: "am", URL: NewSecret(am.srv.URL), Labels: map[string]string{"team": "mail"}}
	paged := memberOf(regressed("scanner@Contoso.com"))
	paged.Labels = map[string]string{"severity": "page", "site": "hq"}
	plain := memberOf(regressed("other@fabrikam.example"))
	plain.Labels = nil
	ownDomain := memberOf(regressed("x@contoso.com"))
	ownDomain.Labels = map[string]string{"domain": "hq.contoso"}
	posture := memberOf(event(scheduler.EventUnexpectedlyOK, "b@contoso.com", probe.IMAP, diagnose.CauseOK, diagnose.CauseBasicAuthDisabled))
	posture.Labels = map[string]string{"severity": "ticket"}
	ns := []Notification{
		{Status: StatusFiring, Problem: string(diagnose.CauseSMTPAuthDisabledTenant), Firing: []Member{paged, plain, ownDomain}},
		{Status: StatusFiring, Problem: string(scheduler.EventUnexpectedlyOK), Firing: []Member{posture}},
	}
	if _, err := a.Notify(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	b, _ := am.all()
	as := decode[[]AMAlert](t, b[0])
	if len(as) != 4 {
		t.Fatalf("%d alerts, want 4", len(as))
	}
	want := []map[string]string{
		{"severity": "page", "exoprobe_severity": "error", "domain": "contoso.com", "site": "hq", "team": "mail"},
		{"severity": "error", "exoprobe_severity": "error", "domain": "fabrikam.example", "team": "mail"},
		{"severity": "error", "domain": "hq.contoso"},
		{"severity": "ticket", "exoprobe_severity": "critical", "domain": "contoso.com", "alertname": "ExoprobeBasicAuthUnexpectedlyOK"},
	}
	for i, w := range want {
		for k, v := range w {
			if got := as[i].Labels[k]; got != v {
				t.Errorf("alert %d (%s): label %s = %q, want %q", i, as[i].Labels["target"], k, got, v)
			}
		}
		if as[i].Labels["target"] == "" || as[i].Labels["cause"] == "" {
			t.Errorf("alert %d lost its identity: %v", i, as[i].Labels)
		}
	}
}

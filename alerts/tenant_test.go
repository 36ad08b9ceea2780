package alerts

import (
	"strings"
	"testing"
	"time"
)

// Tenant incidents: a condition fires once in its group
// (problem/tenant), is not re-sent when a later read shows it again,
// resolves when a read no longer shows it, and a read that could not
// decide a problem resolves nothing.
func TestSetTenantFiresAndResolves(t *testing.T) {
	m, clk := stepped(t, Sink{Name: "hook", Notifier: NewMemory("hook", "en")})
	cred := TenantCondition{Problem: ProblemCredentialExpiring, ID: "app1/secret/k1/application", AppID: "app1",
		Detail: "demo secret k1 (application): expires 2026-12-13 (10 days left)"}
	change := TenantCondition{Problem: ProblemSettingChanged, ID: "transport_config/1", Setting: "transport_config",
		Detail: "Get-TransportConfig: SmtpClientAuthenticationDisabled False -> True"}
	all := TenantProblems()
	set := func(ev []string, cs ...TenantCondition) {
		t.Helper()
		if err := m.SetTenant("contoso", ev, cs); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Second)
		m.step(t)
	}
	set(all, cred, change)
	got := m.drain(t, "hook")
	if len(got) != 2 {
		t.Fatalf("notifications = %d, want 2 (one per problem)", len(got))
	}
	keys := map[string]Notification{}
	for _, n := range got {
		keys[n.GroupKey] = n
	}
	n, ok := keys["tenant_credential_expiring/contoso"]
	if !ok || n.Status != StatusFiring || n.Kind != KindTenant || len(n.Firing) != 1 || n.Firing[0].Detail != cred.Detail {
		t.Fatalf("credential notification: %+v", keys)
	}
	c := Render(&n, "en")
	if !strings.Contains(strings.Join(c.Inspect, "\n"), "appId eq 'app1'") || c.Remedy == "" || c.Checks[0] != cred.Detail || c.Severity != "warning" {
		t.Errorf("rendered: %+v", c)
	}
	if ja := Render(&n, "ja"); !strings.Contains(ja.Title, "期限切れ") || ja.Remedy == c.Remedy {
		t.Errorf("ja: %+v", ja)
	}
	if cc := Render(ptr(keys["tenant_setting_changed/contoso"]), "en"); len(cc.Inspect) != 1 || cc.Inspect[0] != "Get-TransportConfig | Select-Object SmtpClientAuthenticationDisabled" || len(cc.Fix) != 0 {
		t.Errorf("a change alert inspects the setting and never prints a revert: %+v", cc)
	}

	// Seen again (days left changed): no new message.
	cred2 := cred
	cred2.Detail = strings.Replace(cred.Detail, "10 days", "9 days", 1)
	set(all, cred2, change)
	if got := m.drain(t, "hook"); len(got) != 0 {
		t.Fatalf("a condition seen again was re-sent: %+v", got)
	}
	// The sign-in/credential part could not be read: nothing resolves.
	set([]string{ProblemSettingChanged}, change)
	if got := m.drain(t, "hook"); len(got) != 0 {
		t.Fatalf("a failed read resolved something: %+v", got)
	}
	// Renewed: the credential resolves, the change still fires.
	set(all, change)
	got = m.drain(t, "hook")
	if len(got) != 1 || got[0].Status != StatusResolved || got[0].GroupKey != "tenant_credential_expiring/contoso" ||
		len(got[0].Resolved) != 1 || got[0].Resolved[0].NowCause != "ok" {
		t.Fatalf("resolve: %+v", got)
	}
	if r := Render(&got[0], "en"); !strings.HasPrefix(r.Title, "Resolved: ") || r.Severity != "info" || r.Remedy != "" {
		t.Errorf("resolved content: %+v", r)
	}
	// A second change of the same setting is a new member: told again.
	change2 := change
	change2.ID, change2.Detail = "transport_config/2", "Get-TransportConfig: SmtpClientAuthenticationDisabled True -> False"
	set(all, change, change2)
	got = m.drain(t, "hook")
	if len(got) != 1 || got[0].Status != StatusFiring || len(got[0].Firing) != 2 {
		t.Fatalf("second change: %+v", got)
	}
	// Alertmanager: one alert per condition, named as the Prometheus rules.
	l := AMLabels(&got[0].Firing[0], got[0].Problem, nil)
	if l["alertname"] != "ExoprobeTenantSettingChanged" || l["condition"] == "" || l["tenant"] != "contoso" || l["severity"] != "warning" {
		t.Errorf("AM labels: %v", l)
	}
}

// Tenant text reaches chat and mail: control characters are made inert.
func TestTenantDetailInert(t *testing.T) {
	n := Notification{Problem: ProblemSettingChanged, Scope: "contoso", Status: StatusFiring, Kind: KindTenant,
		Firing: []Member{{Target: "contoso", Kind: KindTenant, Detail: "policy \x1b[31mred\x07", Labels: map[string]string{"setting": "authentication_policy"}}}}
	c := Render(&n, "en")
	if strings.ContainsAny(strings.Join(c.Checks, ""), "\x1b\x07") {
		t.Fatalf("control characters passed: %q", c.Checks)
	}
}

func ptr[T any](v T) *T { return &v }

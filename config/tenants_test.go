package config

import (
	"strings"
	"testing"
)

const tenantBase = `tenants:
  contoso:
    tenant_id: contoso.onmicrosoft.com
    domains: [contoso.com]
    tenant_reads:
      client_id: reader
      client_secret_file: /run/secrets/reader
      exchange_admin: true
TENANTS2
oauth_apps:
  app:
    tenant: fabrikam.onmicrosoft.com
    client_id: c1
    client_secret_file: /x
targets:
  - name: a
    user: a@contoso.com
    password_env: X
    checks: [{protocol: smtp, mechanism: basic}]
  - name: b
    user: b@fabrikam.com
    oauth: app
    TARGETTENANT
    checks: [{protocol: imap, mechanism: xoauth2}]
`

func TestTenantsConfig(t *testing.T) {
	two := "  fabrikam:\n    tenant_id: fabrikam.onmicrosoft.com\n"
	mk := func(t2, tt string) string {
		return strings.NewReplacer("TENANTS2\n", t2, "    TARGETTENANT\n", tt).Replace(tenantBase)
	}
	c, err := Parse([]byte(mk(two, "")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TenantOf(&c.Targets[0]); got != "contoso" {
		t.Errorf("by domain: %q", got)
	}
	if got := c.TenantOf(&c.Targets[1]); got != "fabrikam" {
		t.Errorf("by the oauth app's tenant: %q", got)
	}
	if ids, _ := c.WatchedApps("fabrikam"); len(ids) != 1 || ids[0] != "c1" {
		t.Errorf("watched apps of fabrikam = %v", ids)
	}
	for _, tc := range []struct{ body, want string }{
		{mk("", "    tenant: nowhere\n"), `unknown tenant "nowhere"`},
		{strings.Replace(mk("", ""), "      client_id: reader\n", "", 1), "tenant_reads: client_id is required"},
		{strings.Replace(mk("", ""), "      client_secret_file: /run/secrets/reader\n", "", 1), "needs a credential"},
		{strings.Replace(mk("", ""), "      exchange_admin: true\n", "      exchange_admin: true\n      graph_url: http://graph.example\n", 1), "must be an https:// URL"},
		{strings.Replace(mk("", ""), "    tenant_id: contoso.onmicrosoft.com\n", "", 1), "tenant_id is required"},
		{strings.Replace(mk("", ""), "client_secret_file: /run/secrets/reader", "client_secret: hunter2", 1), "inline client_secret is not allowed"},
	} {
		_, err := Parse([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}

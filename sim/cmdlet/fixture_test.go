package cmdlet

import (
	"context"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

const (
	appID    = "11111111-2222-3333-4444-555555555555"
	appObjID = "66666666-7777-8888-9999-000000000000"
	secret   = "very-secret-client-value"
	password = "alice-password-42"
)

// clock is a settable tenant clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// fixture is a small tenant: cheap to build (no keys), deterministic.
func fixture() (*tenant.Tenant, *Interpreter, *clock) {
	s := &tenant.State{
		ID: "8f3b2c1a-5d4e-4f60-9a7b-0c1d2e3f4a5b", Name: "contoso",
		Domains: []string{"contoso.onmicrosoft.com", "contoso.com"}, Era: tenant.Era2026,
		PropagationDelay: tenant.Duration(30 * time.Second),
		Policies: []*tenant.AuthenticationPolicy{
			{Name: "Block Basic Auth", History: []tenant.PolicyVersion{{}}},
		},
		Users: []*tenant.User{
			{UPN: "alice@contoso.com", ObjectID: "aaaaaaaa-0000-0000-0000-000000000001", DisplayName: "Alice Smith", Password: password,
				CAS: tenant.CASMailbox{ImapEnabled: true, PopEnabled: true}},
			{UPN: "bob@contoso.com", ObjectID: "aaaaaaaa-0000-0000-0000-000000000002", DisplayName: "Bob Jones", Password: "bob-pw",
				AuthenticationPolicy: "Block Basic Auth", CAS: tenant.CASMailbox{ImapEnabled: true, PopEnabled: true}},
			{UPN: "sam1@contoso.com", DisplayName: "Sam", CAS: tenant.CASMailbox{ImapEnabled: true, PopEnabled: true}},
			{UPN: "sam2@contoso.com", DisplayName: "Sam", CAS: tenant.CASMailbox{ImapEnabled: true, PopEnabled: true}},
		},
		Apps: []*tenant.App{{
			AppID: appID, DisplayName: "Scanner App", EnterpriseObjectID: appObjID,
			Secrets: []tenant.Secret{{ID: "s1", Value: secret, Expires: t0.AddDate(1, 0, 0)}},
			Roles:   []string{"IMAP.AccessAsApp"},
		}},
		RefreshTokens: []*tenant.RefreshToken{{Hash: "h1", UPN: "alice@contoso.com", AppID: appID}, {Hash: "h2", UPN: "bob@contoso.com", AppID: appID}},
	}
	tn := tenant.New(s)
	c := &clock{now: t0}
	tn.Now = c.Now
	return tn, New(tn), c
}

func mustExec(t *testing.T, in *Interpreter, line string) string {
	t.Helper()
	out, err := in.Exec(context.Background(), line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out
}

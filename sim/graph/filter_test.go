package graph

import (
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

func TestFilter(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	row := &tenant.SignIn{ID: "a", CreatedDateTime: at, UserPrincipalName: "o'brien@contoso.com",
		ClientAppUsed: "Authenticated SMTP", ErrorCode: 53003, IPAddress: "192.0.2.1", EventType: tenant.EventInteractiveUser}
	cases := []struct {
		filter string
		beta   bool
		match  bool
		bad    bool
	}{
		{filter: "userPrincipalName eq 'o''brien@contoso.com'", match: true}, // §11: doubled quotes
		{filter: "userPrincipalName eq 'O''Brien@contoso.com'", match: true}, // case-insensitive
		{filter: "clientAppUsed eq 'IMAP4'", match: false},
		{filter: "status/errorCode eq 53003 and createdDateTime ge 2026-12-03T09:00:00Z", match: true},
		{filter: "createdDateTime le 2026-12-03T09:00:00Z", match: false},
		{filter: "createdDateTime ge 2026-12-03T09:30:00.0000000Z and createdDateTime lt 2026-12-03T09:30:01Z", match: true},
		{filter: "(clientAppUsed eq 'Authenticated SMTP' or clientAppUsed eq 'SMTP') and status/errorCode eq 0", match: false},
		{filter: "startswith(ipAddress,'192.0.')", match: true},
		{filter: "signInEventTypes/any(t: t eq 'interactiveUser')", beta: true, match: true},
		{filter: "signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')", beta: true, match: true},
		{filter: "signInEventTypes/any(t: t eq 'interactiveUser')", bad: true},
		{filter: "signInEventTypes/any(t: t eq 'servicePrincipal') and signInEventTypes/any(t: t eq 'interactiveUser')", beta: true, bad: true},
		{filter: "createdDateTime ge '2026-12-03T09:00:00Z'", bad: true}, // §2.1: unquoted
		{filter: "status/errorCode ne 0", bad: true},
		{filter: "clientAppUsed eq 'IMAP4", bad: true},
		{filter: "clientAppUsed eq 'IMAP4' and", bad: true},
		{filter: "servicePrincipalId eq ''", bad: true}, // beta only
		{filter: "servicePrincipalId eq ''", beta: true, match: true},
	}
	for _, c := range cases {
		f, _, aerr := parseFilter(c.filter, c.beta)
		if c.bad {
			if aerr == nil || aerr.status != 400 {
				t.Errorf("%q (beta %v): accepted, want 400", c.filter, c.beta)
			}
			continue
		}
		if aerr != nil {
			t.Errorf("%q: %v", c.filter, aerr)
			continue
		}
		if got := f(row); got != c.match {
			t.Errorf("%q: match %v, want %v", c.filter, got, c.match)
		}
	}
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"userPrincipalName eq 'a@b.c' and createdDateTime ge 2026-12-03T09:00:00Z",
		"(clientAppUsed eq 'IMAP4' or clientAppUsed eq 'POP3') and status/errorCode eq 0",
		"signInEventTypes/any(t: t eq 'servicePrincipal')", "startsWith(ipAddress,'1')", "((((", "'", "a eq", ")",
	} {
		f.Add(s, true)
	}
	row := &tenant.SignIn{ID: "x", EventType: tenant.EventInteractiveUser}
	f.Fuzz(func(t *testing.T, s string, beta bool) {
		p, _, aerr := parseFilter(s, beta)
		if aerr == nil {
			p(row) // must not panic
		} else if aerr.status != 400 {
			t.Fatalf("%q: status %d", s, aerr.status)
		}
	})
}

func TestFilterDepthBounded(t *testing.T) {
	deep := ""
	for range 100 {
		deep += "("
	}
	if _, _, aerr := parseFilter(deep+"id eq 'a'", false); aerr == nil {
		t.Fatal("100 nested parentheses accepted")
	}
	ok := "((((id eq 'a'))))"
	if _, _, aerr := parseFilter(ok, false); aerr != nil {
		t.Fatalf("%s: %v", ok, aerr)
	}
}

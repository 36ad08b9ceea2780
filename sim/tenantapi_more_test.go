package sim

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

func q(s string) string { return url.QueryEscape(s) }

func TestGraphAuthErrors(t *testing.T) {
	s, e := startSim(t)
	const path = "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"
	exoTok := readerToken(t, e, e.ExchangeScope)
	demoTok := tokenRequest(t, e, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {e.Demo.ClientID},
		"client_secret": {e.Demo.ClientSecret}, "scope": {e.GraphScope},
	})
	cases := []struct {
		name, tok string
		status    int
		code, msg string
	}{
		// tenant-api.md §2.4.
		{"no token", "", 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"garbled token", "not-a-jwt", 401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217"},
		{"Exchange audience", exoTok, 401, "InvalidAuthenticationToken", ""},
		{"no Policy.Read.All", demoTok, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := graphGet(t, e, c.tok, path)
			if r.status != c.status || jpath(r.body, "error.code") != c.code || (c.msg != "" && jpath(r.body, "error.message") != c.msg) {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			// §2.3 envelope: innerError with date, request-id, client-request-id.
			for _, k := range []string{"date", "request-id", "client-request-id"} {
				if v, _ := jpath(r.body, "error.innerError."+k).(string); v == "" {
					t.Errorf("innerError.%s missing: %s", k, r.raw)
				}
			}
		})
	}
	t.Run("audit logs need AuditLog.Read.All", func(t *testing.T) {
		run(t, s, "Set-SimApp -AppId "+e.Demo.ClientID+" -AddGraphRole Policy.Read.All")
		r := graphGet(t, e, demoTok, "/v1.0/auditLogs/signIns")
		if r.status != 403 || jpath(r.body, "error.code") != "Authentication_MSGraphPermissionMissing" {
			t.Fatalf("old token: %d %s", r.status, r.raw)
		}
		// Roles are fixed at issue time (§1.4): the old token still lacks
		// Policy.Read.All, a new one has it.
		if r := graphGet(t, e, demoTok, path); r.status != 403 {
			t.Errorf("old token after the grant: %d", r.status)
		}
		fresh := tokenRequest(t, e, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {e.Demo.ClientID},
			"client_secret": {e.Demo.ClientSecret}, "scope": {e.GraphScope},
		})
		if r := graphGet(t, e, fresh, path); r.status != 200 {
			t.Errorf("new token after the grant: %d %s", r.status, r.raw)
		}
		run(t, s, "Set-SimApp -AppId "+e.Reader.ClientID+" -RemoveGraphRole Policy.Read.All")
		if r := graphGet(t, e, readerToken(t, e, e.GraphScope), path); r.status != 403 {
			t.Errorf("reader without Policy.Read.All: %d", r.status)
		}
	})
}

func TestGraphThrottleAndLicence(t *testing.T) {
	s, e := startSim(t)
	tok := readerToken(t, e, e.GraphScope)
	run(t, s, "Set-SimTenant -GraphThrottle 1 -RetryAfter 2.128")
	r := graphGet(t, e, tok, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")
	// §2.6 sample.
	if r.status != 429 || r.header.Get("Retry-After") != "2.128" || jpath(r.body, "error.code") != "TooManyRequests" ||
		jpath(r.body, "error.message") != "Please retry again later." || jpath(r.body, "error.innerError.status") != "429" {
		t.Fatalf("throttled: %d %v %s", r.status, r.header, r.raw)
	}
	if r := graphGet(t, e, tok, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"); r.status != 200 {
		t.Fatalf("after the throttled request: %d", r.status)
	}
	run(t, s, "Set-SimTenant -GraphUnavailable 1")
	if r := graphGet(t, e, tok, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"); r.status != 503 || jpath(r.body, "error.code") != "serviceNotAvailable" {
		t.Fatalf("outage: %d %s", r.status, r.raw)
	}
	// Conditional Access never sends Retry-After (§2.6, doc says).
	run(t, s, "Set-SimTenant -GraphThrottle 1")
	r = graphGet(t, e, tok, "/v1.0/identity/conditionalAccess/policies")
	if r.status != 429 || r.header.Get("Retry-After") != "" {
		t.Fatalf("CA throttled: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}

	// §2.5: the sign-in log needs P1/P2; match on code, two texts.
	run(t, s, "Set-SimTenant -EntraLicense Free")
	r = graphGet(t, e, tok, "/v1.0/auditLogs/signIns")
	if r.status != 403 || jpath(r.body, "error.code") != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" ||
		jpath(r.body, "error.message") != "Neither tenant is B2C or tenant doesn't have premium license" {
		t.Fatalf("no licence: %d %s", r.status, r.raw)
	}
	run(t, s, "Set-SimTenant -LicenseErrorText new")
	r = graphGet(t, e, tok, "/beta/auditLogs/signIns")
	if jpath(r.body, "error.message") != "Tenant is not a B2C tenant and doesn't have premium license" {
		t.Errorf("new text: %s", r.raw)
	}
	// Security defaults need no licence (§3).
	if r := graphGet(t, e, tok, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy"); r.status != 200 {
		t.Errorf("security defaults on a free tenant: %d", r.status)
	}
	run(t, s, "Set-SimTenant -EntraLicense P2")
	if r := graphGet(t, e, tok, "/v1.0/auditLogs/signIns"); r.status != 200 {
		t.Errorf("P2: %d %s", r.status, r.raw)
	}
	// §2.5 flakiness: without Directory.Read.All every other read gets the
	// licence error on a premium tenant; with it, none.
	run(t, s, "Set-SimTenant -SignInLicenseFlaky", "Set-SimApp -AppId "+e.Reader.ClientID+" -RemoveGraphRole Directory.Read.All")
	noDir := readerToken(t, e, e.GraphScope)
	var statuses []int
	for range 4 {
		statuses = append(statuses, graphGet(t, e, noDir, "/v1.0/auditLogs/signIns").status)
	}
	if statuses[0]+statuses[1] != 403+200 || statuses[2]+statuses[3] != 403+200 {
		t.Errorf("flaky without Directory.Read.All: %v", statuses)
	}
	for range 3 {
		if r := graphGet(t, e, tok, "/v1.0/auditLogs/signIns"); r.status != 200 {
			t.Errorf("flaky with Directory.Read.All: %d", r.status)
		}
	}
}

func TestSignInLogDelayPagingAndFilters(t *testing.T) {
	s, e := startSim(t)
	tok := readerToken(t, e, e.GraphScope)
	// Default delay (2 min): a login now is not visible yet.
	users := map[string]string{}
	for _, u := range e.Users {
		users[u.UPN] = u.Password
	}
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "demo@contoso.com", secret: users["demo@contoso.com"]})
	var stored int
	s.Tenant().View(func(st *tenant.State) {
		for _, r := range st.SignIns {
			if r.UserPrincipalName == "demo@contoso.com" {
				stored++
			}
		}
	})
	if stored != 1 {
		t.Fatalf("stored rows for demo@ %d, want 1", stored)
	}
	if r := graphGet(t, e, tok, "/v1.0/auditLogs/signIns"); len(jpath(r.body, "value").([]any)) != 0 {
		t.Fatalf("a fresh row is visible despite the default delay: %s", r.raw)
	}
	// A 10-minute delay: a row 11 minutes old shows, one 5 minutes old not.
	now := time.Now().UTC()
	run(t, s, "Set-SimTenant -SignInLogDelay 10m",
		"Add-SimSignIn -User old@contoso.com -ClientApp 'Authenticated SMTP' -IPAddress 192.0.2.1 -CreatedDateTime '"+now.Add(-11*time.Minute).Format(time.RFC3339)+"'",
		"Add-SimSignIn -User new@contoso.com -ClientApp 'Authenticated SMTP' -IPAddress 192.0.2.2 -CreatedDateTime '"+now.Add(-5*time.Minute).Format(time.RFC3339)+"'")
	r := graphGet(t, e, tok, "/v1.0/auditLogs/signIns")
	if v := jpath(r.body, "value").([]any); len(v) != 1 || jpath(v[0], "userPrincipalName") != "old@contoso.com" {
		t.Fatalf("with a 10m delay: %s", r.raw)
	}

	// Paging: 7 visible rows, $top=3 → 3+3+1, newest first, no overlap,
	// and a row added between pages does not shift them.
	run(t, s, "Set-SimTenant -SignInLogDelay 0s")
	for i := range 4 {
		run(t, s, "Add-SimSignIn -User printer@contoso.com -ClientApp 'Authenticated SMTP' -IPAddress 198.51.100.7 -CreatedDateTime '"+
			now.Add(-time.Duration(20+i)*time.Minute).Format(time.RFC3339)+"'")
	}
	next := "/v1.0/auditLogs/signIns?$top=3"
	var ids []string
	var sizes []int
	var last time.Time
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := graphGet(t, e, tok, next)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", next, r.status, r.raw)
		}
		v := jpath(r.body, "value").([]any)
		sizes = append(sizes, len(v))
		for _, row := range v {
			ids = append(ids, jpath(row, "id").(string))
			ct, err := time.Parse(time.RFC3339Nano, jpath(row, "createdDateTime").(string))
			if err != nil {
				t.Fatal(err)
			}
			if !last.IsZero() && ct.After(last) {
				t.Errorf("not newest first: %v after %v", ct, last)
			}
			last = ct
		}
		next, _ = r.body["@odata.nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, e.GraphURL+"/v1.0/auditLogs/signIns?") {
			t.Fatalf("nextLink %q is not absolute", next)
		}
		if pages == 0 {
			run(t, s, "Add-SimSignIn -User late@contoso.com -ClientApp IMAP4")
		}
	}
	if got := strings.Join(intsToStrings(sizes), ","); got != "3,3,1" {
		t.Errorf("page sizes %s, want 3,3,1 (ids %v)", got, ids)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("row %s on two pages", id)
		}
		seen[id] = true
	}

	filterCases := []struct {
		name, path string
		want       int // rows; -1: 400
		msg        string
	}{
		{"startsWith", "/v1.0/auditLogs/signIns?$filter=" + q("startsWith(userPrincipalName,'print')"), 4, ""},
		{"protocol or, in parentheses", "/v1.0/auditLogs/signIns?$filter=" + q("(clientAppUsed eq 'IMAP4' or clientAppUsed eq 'authenticated smtp') and status/errorCode eq 0"), 8, ""},
		{"time window", "/v1.0/auditLogs/signIns?$filter=" + q("createdDateTime ge "+now.Add(-21*time.Minute).Format(time.RFC3339)+" and createdDateTime le "+now.Add(-19*time.Minute).Format(time.RFC3339)), 2, ""},
		{"ip", "/v1.0/auditLogs/signIns?$filter=" + q("ipAddress eq '192.0.2.1'"), 1, ""},
		{"v1.0 has no signInEventTypes", "/v1.0/auditLogs/signIns?$filter=" + q("signInEventTypes/any(t: t eq 'servicePrincipal')"), -1,
			"Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'."},
		{"user and service principal types", "/beta/auditLogs/signIns?$filter=" + q("signInEventTypes/any(t: t eq 'servicePrincipal' or t eq 'interactiveUser')"), -1, ""},
		{"ne is not offered", "/v1.0/auditLogs/signIns?$filter=" + q("status/errorCode ne 0"), -1, ""},
		{"top over 1000", "/v1.0/auditLogs/signIns?$top=1001", -1, ""},
		{"unknown property", "/v1.0/auditLogs/signIns?$filter=" + q("bogus eq 'x'"), -1, ""},
	}
	for _, c := range filterCases {
		t.Run(c.name, func(t *testing.T) {
			r := graphGet(t, e, tok, c.path)
			if c.want < 0 {
				if r.status != 400 || jpath(r.body, "error.code") != "BadRequest" || (c.msg != "" && jpath(r.body, "error.message") != c.msg) {
					t.Fatalf("want 400: %d %s", r.status, r.raw)
				}
				return
			}
			if v, _ := jpath(r.body, "value").([]any); r.status != 200 || len(v) != c.want {
				t.Fatalf("want %d rows: %d %s", c.want, r.status, r.raw)
			}
		})
	}
}

func intsToStrings(ns []int) []string {
	var out []string
	for _, n := range ns {
		out = append(out, string(rune('0'+n)))
	}
	return out
}

// Every login and token request the emulator decides writes its row
// (tenant-api.md §5.5, §5.7); refusals Exchange makes before Entra write
// none.
func TestSignInsForEachDecidedLogin(t *testing.T) {
	s, e := startSim(t)
	run(t, s, "Set-SimTenant -SignInLogDelay 0s -BasicAuthRetiredImapPop:$false -PropagationDelay 0s",
		"Set-AuthenticationPolicy -Identity '"+tenant.DemoPolicy+"' -AllowBasicAuthImap -AllowBasicAuthPop")
	pw := map[string]string{}
	for _, u := range e.Users {
		pw[u.UPN] = u.Password
	}
	doLogin(t, e, login{proto: "imap", mech: "basic", user: "demo@contoso.com", secret: pw["demo@contoso.com"]})
	doLogin(t, e, login{proto: "imap", mech: "plain", user: "disabled@contoso.com", secret: pw["disabled@contoso.com"]})
	doLogin(t, e, login{proto: "pop", mech: "basic", user: "locked@contoso.com", secret: pw["locked@contoso.com"]})
	doLogin(t, e, login{proto: "pop", mech: "plain", user: "mfa@contoso.com", secret: pw["mfa@contoso.com"]})
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "ghost@contoso.com", secret: "x"})
	// Exchange-side refusals: no row.
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "shared@contoso.com", secret: pw["shared@contoso.com"]}) // auth policy
	doLogin(t, e, login{proto: "smtp", mech: "basic", user: "nosmtp@contoso.com", secret: pw["nosmtp@contoso.com"]}) // SMTP AUTH off
	// XOAUTH2: the AUTH itself writes no row (§5.7), its token request does.
	doLogin(t, e, login{proto: "imap", mech: "xoauth2", user: "demo@contoso.com", secret: appToken(t, e)})
	// Token endpoint: ROPC and a wrong client secret.
	tokenRequest(t, e, url.Values{"grant_type": {"password"}, "client_id": {e.Demo.ClientID},
		"client_secret": {e.Demo.ClientSecret}, "username": {"demo@contoso.com"}, "password": {pw["demo@contoso.com"]},
		"scope": {"https://outlook.office.com/IMAP.AccessAsUser.All"}})
	hc := httpsClient(t, e)
	resp, err := hc.PostForm(e.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.Demo.ClientID},
		"client_secret": {"wrong"}, "scope": {e.ExchangeScope}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	tok := readerToken(t, e, e.GraphScope)
	v1 := graphGet(t, e, tok, "/v1.0/auditLogs/signIns")
	type row struct {
		app  string
		code float64
	}
	got := map[string][]row{}
	for _, r := range jpath(v1.body, "value").([]any) {
		upn := jpath(r, "userPrincipalName").(string)
		got[upn] = append(got[upn], row{jpath(r, "clientAppUsed").(string), jpath(r, "status.errorCode").(float64)})
	}
	want := map[string][]row{
		"demo@contoso.com":     {{"Mobile Apps and Desktop clients", 0}, {"IMAP4", 0}},
		"disabled@contoso.com": {{"IMAP4", 50057}},
		"locked@contoso.com":   {{"POP3", 50053}},
		"mfa@contoso.com":      {{"POP3", 50076}},
		"ghost@contoso.com":    {{"Authenticated SMTP", 50034}},
	}
	for upn, w := range want {
		if len(got[upn]) != len(w) {
			t.Errorf("%s: rows %v, want %v", upn, got[upn], w)
			continue
		}
		for i := range w {
			if got[upn][i] != w[i] {
				t.Errorf("%s row %d: %v, want %v", upn, i, got[upn][i], w[i])
			}
		}
	}
	for _, upn := range []string{"shared@contoso.com", "nosmtp@contoso.com"} {
		if len(got[upn]) != 0 {
			t.Errorf("%s: Exchange-side refusal wrote %v", upn, got[upn])
		}
	}
	// Service principal rows are beta only (§5.1): the demo app's token
	// requests (XOAUTH2's, and the wrong secret's 7000215).
	beta := graphGet(t, e, tok, "/beta/auditLogs/signIns?$filter="+q("signInEventTypes/any(t: t eq 'servicePrincipal') and appId eq '"+e.Demo.ClientID+"'"))
	var codes []float64
	for _, r := range jpath(beta.body, "value").([]any) {
		codes = append(codes, jpath(r, "status.errorCode").(float64))
		if jpath(r, "servicePrincipalId") != tenant.DemoAppObjectID || jpath(r, "resourceId") != tenant.ResourceExchangeAppID {
			t.Errorf("SP row: %v", r)
		}
	}
	if len(codes) != 2 || codes[0] != 7000215 || codes[1] != 0 {
		t.Errorf("SP rows' codes (newest first) %v, want [7000215 0]; %s", codes, beta.raw)
	}
	// The success row names the secret used: its keyId is the one Graph
	// lists under passwordCredentials (§5.2 "joins to §6 keyId").
	app := graphGet(t, e, tok, "/v1.0/applications(appId='"+e.Demo.ClientID+"')")
	if k := jpath(beta.body, "value.1.servicePrincipalCredentialKeyId"); k == "" || k != jpath(app.body, "passwordCredentials.0.keyId") {
		t.Errorf("credential key id %v, application's %v", k, jpath(app.body, "passwordCredentials.0.keyId"))
	}
	if k := jpath(beta.body, "value.0.servicePrincipalCredentialKeyId"); k != "" {
		t.Errorf("a wrong secret names key %v", k)
	}
}

func TestGraphApplicationsAndPrincipals(t *testing.T) {
	s, e := startSim(t)
	end := time.Now().UTC().Add(10 * 24 * time.Hour).Truncate(time.Second)
	cert := time.Now().UTC().Add(40 * 24 * time.Hour).Truncate(time.Second)
	run(t, s, "Set-SimApp -AppId "+e.Demo.ClientID+" -SecretEndDateTime '"+end.Format(time.RFC3339)+"' -CertificateEndDateTime '"+cert.Format(time.RFC3339)+"'")
	tok := readerToken(t, e, e.GraphScope)
	r := graphGet(t, e, tok, "/v1.0/applications(appId='"+e.Demo.ClientID+"')?$select=id,appId,displayName,passwordCredentials,keyCredentials")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r.body["@odata.context"] != e.GraphURL+"/v1.0/$metadata#applications(id,appId,displayName,passwordCredentials,keyCredentials)/$entity" {
		t.Errorf("context %v", r.body["@odata.context"])
	}
	pc := jpath(r.body, "passwordCredentials.0")
	if jpath(pc, "endDateTime") != end.Format("2006-01-02T15:04:05Z") || jpath(pc, "secretText") != nil || len(jpath(pc, "hint").(string)) != 3 {
		t.Errorf("passwordCredentials[0] %v", pc)
	}
	if strings.Contains(string(r.raw), e.Demo.ClientSecret) {
		t.Error("the client secret is in the Graph response")
	}
	kc := jpath(r.body, "keyCredentials.0")
	if jpath(kc, "endDateTime") != cert.Format("2006-01-02T15:04:05Z") || jpath(kc, "type") != "AsymmetricX509Cert" ||
		jpath(kc, "usage") != "Verify" || jpath(kc, "key") != nil {
		t.Errorf("keyCredentials[0] %v", kc)
	}
	if r := graphGet(t, e, tok, "/v1.0/applications(appId='00000000-0000-0000-0000-000000000001')"); r.status != 404 ||
		jpath(r.body, "error.code") != "Request_ResourceNotFound" {
		t.Errorf("unknown app: %d %s", r.status, r.raw)
	}
	// An expired secret is refused by the token endpoint too.
	run(t, s, "Set-SimApp -AppId "+e.Demo.ClientID+" -SecretEndDateTime '"+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)+"'")
	resp, err := httpsClient(t, e).PostForm(e.TokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.Demo.ClientID},
		"client_secret": {e.Demo.ClientSecret}, "scope": {e.ExchangeScope}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(buf.String(), "AADSTS7000222") {
		t.Errorf("expired secret: %d %s", resp.StatusCode, buf.String())
	}

	// §6.2: the Exchange resource SP with its app roles, and the reader's
	// grants.
	r = graphGet(t, e, tok, "/v1.0/servicePrincipals(appId='00000002-0000-0ff1-ce00-000000000000')?$select=id,appId,displayName,appRoles")
	var manageID, exoSP string
	exoSP, _ = r.body["id"].(string)
	for _, ar := range jpath(r.body, "appRoles").([]any) {
		if jpath(ar, "value") == "Exchange.ManageAsApp" {
			manageID, _ = jpath(ar, "id").(string)
		}
	}
	if manageID != "dc50a0fb-09a3-484d-be87-e023b12c6440" {
		t.Errorf("Exchange.ManageAsApp id %q in %s", manageID, r.raw)
	}
	r = graphGet(t, e, tok, "/v1.0/servicePrincipals/"+tenant.DemoReaderObjectID+"/appRoleAssignments")
	found := false
	for _, a := range jpath(r.body, "value").([]any) {
		if jpath(a, "appRoleId") == manageID && jpath(a, "resourceId") == exoSP && jpath(a, "principalId") == tenant.DemoReaderObjectID {
			found = true
		}
	}
	if !found {
		t.Errorf("reader's Exchange.ManageAsApp assignment missing: %s", r.raw)
	}
	r = graphGet(t, e, tok, "/v1.0/servicePrincipals(appId='"+e.Demo.ClientID+"')")
	if r.body["id"] != tenant.DemoAppObjectID {
		t.Errorf("demo SP id %v, want the enterprise object id", r.body["id"])
	}

	// G8: accountEnabled for account_disabled (§9).
	r = graphGet(t, e, tok, "/v1.0/users/disabled@contoso.com?$select=id,userPrincipalName,accountEnabled")
	if r.status != 200 || r.body["accountEnabled"] != false || r.body["userPrincipalName"] != "disabled@contoso.com" ||
		r.body["@odata.context"] != e.GraphURL+"/v1.0/$metadata#users(id,userPrincipalName,accountEnabled)/$entity" {
		t.Errorf("user: %d %s", r.status, r.raw)
	}
	if r := graphGet(t, e, tok, "/v1.0/users/nobody@contoso.com"); r.status != 404 {
		t.Errorf("unknown user: %d", r.status)
	}

	// §4.2: the emulated block-legacy policy with the blocked user.
	r = graphGet(t, e, tok, "/v1.0/identity/conditionalAccess/policies")
	p := jpath(r.body, "value.0")
	var blockedID string
	for _, u := range e.Users {
		if u.UPN == "blocked@contoso.com" {
			s.Tenant().View(func(st *tenant.State) { blockedID = st.FindUser(u.UPN).ObjectID })
		}
	}
	if jpath(p, "state") != "enabled" || jpath(p, "conditions.users.includeUsers.0") != blockedID ||
		jpath(p, "conditions.clientAppTypes.1") != "other" || jpath(p, "grantControls.builtInControls.0") != "block" {
		t.Errorf("CA policy %s", r.raw)
	}
}

func TestInvokeCommandCmdletsAndErrors(t *testing.T) {
	s, e := startSim(t)
	tok := readerToken(t, e, e.ExchangeScope)
	body := func(name, params string) string {
		return `{"CmdletInput":{"CmdletName":"` + name + `","Parameters":` + params + `}}`
	}
	ok := []struct {
		cmd, params, path string
		want              any
	}{
		{"Get-CASMailbox", `{"Identity":"nosmtp@contoso.com"}`, "value.0.SmtpClientAuthenticationDisabled", true},
		{"Get-CASMailbox", `{"Identity":"demo@contoso.com"}`, "value.0.SmtpClientAuthenticationDisabled", nil},
		{"Get-CASMailbox", `{"Identity":"noimap@contoso.com"}`, "value.0.ImapEnabled", false},
		{"Get-User", `{"Identity":"demo@contoso.com"}`, "value.0.AuthenticationPolicy", tenant.DemoPolicy},
		{"Get-User", `{"Identity":"shared@contoso.com"}`, "value.0.AuthenticationPolicy", nil},
		{"Get-OrganizationConfig", `{}`, "value.0.DefaultAuthenticationPolicy", "Block Basic Auth"},
		{"Get-OrganizationConfig", `{}`, "value.0.OAuth2ClientProfileEnabled", true},
		{"Get-AuthenticationPolicy", `{"Identity":"Allow SMTP Basic"}`, "value.0.AllowBasicAuthSmtp", true},
		{"Get-AuthenticationPolicy", `{"Identity":"Allow SMTP Basic"}`, "value.0.AllowBasicAuthImap", false},
		{"Get-ServicePrincipal", `{"Identity":"` + tenant.DemoAppID + `"}`, "value.0.ObjectId", tenant.DemoAppObjectID},
		{"Get-MailboxPermission", `{"Identity":"demo@contoso.com"}`, "value.1.AccessRights.0", "FullAccess"},
		{"Get-MailboxPermission", `{"Identity":"demo@contoso.com"}`, "value.1.User", "exoprobe demo"},
	}
	for _, c := range ok {
		r := invoke(t, e, tok, "", body(c.cmd, c.params))
		if r.status != 200 || jpath(r.body, c.path) != c.want {
			t.Errorf("%s %s: %s = %#v, want %#v (%d %s)", c.cmd, c.params, c.path, jpath(r.body, c.path), c.want, r.status, r.raw)
		}
	}
	// $select (§8.2).
	r := invoke(t, e, tok, e.InvokeCommandURL+"?%24select=ImapEnabled,PopEnabled", body("Get-CASMailbox", `{"Identity":"demo@contoso.com"}`))
	if row, _ := jpath(r.body, "value.0").(map[string]any); len(row) != 2 || row["ImapEnabled"] != true {
		t.Errorf("$select: %s", r.raw)
	}

	nul := bytes.Repeat([]byte{0}, 4096)
	refusals := []struct {
		name, tok, body string
		status          int
		nulBody         bool
		excType         string
	}{
		{"no token", "", body("Get-TransportConfig", "{}"), 401, false, ""},
		{"Graph token", readerToken(t, e, e.GraphScope), body("Get-TransportConfig", "{}"), 401, false, ""},
		{"no Exchange.ManageAsApp", appToken(t, e), body("Get-TransportConfig", "{}"), 401, false, ""},
		{"a Set- cmdlet", tok, body("Set-TransportConfig", `{"SmtpClientAuthenticationDisabled":false}`), 403, true, ""},
		{"an unknown cmdlet", tok, body("Get-Bogus", "{}"), 403, true, ""},
		{"Get-EXOCasMailbox", tok, body("Get-EXOCasMailbox", "{}"), 403, true, ""},
		{"emulator knob", tok, body("Get-SimState", "{}"), 403, true, ""},
		{"unknown parameter", tok, body("Get-CASMailbox", `{"BogusParameter":"x"}`), 400, false,
			"Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"},
		{"bad ResultSize", tok, body("Get-CASMailbox", `{"ResultSize":"lots"}`), 400, false,
			"Microsoft.Exchange.AdminApi.CommandInvocation.ParameterTransformationException"},
		{"unknown identity", tok, body("Get-CASMailbox", `{"Identity":"nobody@contoso.com"}`), 400, false,
			"Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			r := invoke(t, e, c.tok, "", c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %q", r.status, c.status, r.raw)
			}
			if c.nulBody && !bytes.Equal(r.raw, nul) {
				t.Errorf("body is not 4096 NUL bytes: %q", r.raw)
			}
			if c.excType != "" {
				if jpath(r.body, "error.message") != "Invalid Operation" || jpath(r.body, "error.innererror.internalexception.type") != c.excType {
					t.Errorf("error body %s", r.raw)
				}
			}
		})
	}
	if r := invoke(t, e, tok, "", body("Get-CASMailbox", `{"BogusParameter":"x"}`)); jpath(r.body, "error.details.0.message") !=
		"|Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException|Parameter set cannot be resolved using the specified named parameters. Invalid cmdlet parameters specified. BogusParameter" {
		t.Errorf("§8.5 details: %s", r.raw)
	}
	// App role without a directory role: 403 NUL (§8.5 progression).
	run(t, s, "Set-SimApp -AppId "+e.Reader.ClientID+" -RemoveDirectoryRole 'Global Reader'")
	if r := invoke(t, e, readerToken(t, e, e.ExchangeScope), "", body("Get-TransportConfig", "{}")); r.status != 403 || !bytes.Equal(r.raw, nul) {
		t.Errorf("no directory role: %d %q", r.status, r.raw)
	}
	// The old token still carries Global Reader.
	if r := invoke(t, e, tok, "", body("Get-TransportConfig", "{}")); r.status != 200 {
		t.Errorf("old token: %d", r.status)
	}

	// ResultSize paging (§8.4): truncated page, warning, nextLink; CIPP
	// follows it, G2O gets 400.
	r = invoke(t, e, tok, "", body("Get-CASMailbox", `{"ResultSize":4}`))
	next, _ := r.body["@odata.nextLink"].(string)
	warn, _ := jpath(r.body["@adminapi.warnings"], "0").(string)
	if n := len(jpath(r.body, "value").([]any)); n != 4 || next == "" ||
		warn != "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter." {
		t.Fatalf("truncated: %d rows, next %q, %s", n, next, r.raw)
	}
	r2 := invoke(t, e, tok, next, body("Get-CASMailbox", `{"ResultSize":4}`))
	if n := len(jpath(r2.body, "value").([]any)); r2.status != 200 || n != 4 || jpath(r2.body, "value.0.PrimarySmtpAddress") == jpath(r.body, "value.0.PrimarySmtpAddress") {
		t.Errorf("second page: %d %s", r2.status, r2.raw)
	}
	run(t, s, "Set-SimTenant -InvokeCommandPagingExpires")
	r2 = invoke(t, e, tok, next, body("Get-CASMailbox", `{"ResultSize":4}`))
	if r2.status != 400 || jpath(r2.body, "error.innererror.internalexception.message") != "Expired or Invalid pagination request. Default Expiry time is 00:30:00" {
		t.Errorf("expired paging: %d %s", r2.status, r2.raw)
	}

	run(t, s, "Set-SimTenant -ExchangeThrottle 1 -RetryAfter 5")
	if r := invoke(t, e, tok, "", body("Get-TransportConfig", "{}")); r.status != 429 || r.header.Get("Retry-After") != "5" {
		t.Errorf("throttled: %d %v", r.status, r.header)
	}
	run(t, s, "Set-SimTenant -ExchangeUnavailable 1")
	if r := invoke(t, e, tok, "", body("Get-TransportConfig", "{}")); r.status != 503 {
		t.Errorf("unavailable: %d", r.status)
	}
	if r := invoke(t, e, tok, "", body("Get-TransportConfig", "{}")); r.status != 200 {
		t.Errorf("after the outage: %d", r.status)
	}
	run(t, s, "Set-SimTenant -InvokeCommandEnabled:$false")
	if r := invoke(t, e, tok, "", body("Get-TransportConfig", "{}")); r.status != 404 {
		t.Errorf("disabled: %d", r.status)
	}
}

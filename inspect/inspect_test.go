package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
)

// fakeTenant serves Graph (/v1.0/...) and Exchange's InvokeCommand
// (/adminapi/beta/{tenant}/InvokeCommand) with the shapes of
// tenant-api.md; routes can be replaced to inject failures.
type fakeTenant struct {
	mu     sync.Mutex
	hits   map[string]int
	graph  map[string]http.HandlerFunc // by path (no query)
	cmdlet map[string]http.HandlerFunc // by cmdlet name
	srv    *httptest.Server
	bodies []string // every request's Authorization-free view, for leak checks
}

func jsonReply(status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

func graphError(status int, code, msg string) http.HandlerFunc {
	return jsonReply(status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"date": "2026-12-03T10:00:00", "request-id": "r1"}}})
}

func exoRows(rows ...any) http.HandlerFunc {
	if rows == nil {
		rows = []any{}
	}
	return jsonReply(200, map[string]any{
		"@odata.context":               "https://outlook.office365.com/adminapi/beta/t/$metadata#Collection(Exchange.GenericHashTable)",
		"adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": []string{}, "value": rows})
}

var (
	now     = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	appID   = "11111111-2222-3333-4444-555555555555"
	spID    = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	tenant  = "contoso.onmicrosoft.com"
	secret1 = "reader-secret-XYZ-123"
)

func newFakeTenant(t *testing.T) *fakeTenant {
	f := &fakeTenant{hits: map[string]int{}}
	f.graph = map[string]http.HandlerFunc{
		"/v1.0/policies/identitySecurityDefaultsEnforcementPolicy": jsonReply(200, map[string]any{
			"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy",
			"id":             "00000000-0000-0000-0000-000000000005", "displayName": "Security Defaults", "isEnabled": true}),
		"/v1.0/identity/conditionalAccess/policies": func(w http.ResponseWriter, r *http.Request) {
			p1 := map[string]any{"id": "p1", "displayName": "Block legacy authentication", "state": "enabled",
				"conditions":    map[string]any{"clientAppTypes": []string{"exchangeActiveSync", "other"}, "users": map[string]any{"includeUsers": []string{"All"}}},
				"grantControls": map[string]any{"operator": "OR", "builtInControls": []string{"block"}}}
			p2 := map[string]any{"id": "p2", "displayName": "Report only", "state": "enabledForReportingButNotEnforced",
				"conditions":    map[string]any{"clientAppTypes": []string{"all"}, "users": map[string]any{"includeUsers": []string{"All"}}},
				"grantControls": map[string]any{"builtInControls": []string{"mfa"}}}
			if r.URL.Query().Get("$skiptoken") == "" {
				jsonReply(200, map[string]any{"value": []any{p1}, "@odata.nextLink": f.srv.URL + r.URL.Path + "?$skiptoken=2"})(w, r)
				return
			}
			jsonReply(200, map[string]any{"value": []any{p2}})(w, r)
		},
		"/v1.0/applications(appId='" + appID + "')": jsonReply(200, map[string]any{"id": "app-obj", "appId": appID, "displayName": "Scanner app",
			"passwordCredentials": []any{map[string]any{"keyId": "k1", "displayName": "scanner secret", "endDateTime": now.Add(10 * 24 * time.Hour).Format(time.RFC3339), "hint": "abc"}},
			"keyCredentials":      []any{}}),
		"/v1.0/servicePrincipals(appId='" + appID + "')": jsonReply(200, map[string]any{"id": spID, "appId": appID, "displayName": "Scanner app",
			"passwordCredentials": []any{}, "keyCredentials": []any{}}),
		"/v1.0/auditLogs/signIns": func(w http.ResponseWriter, r *http.Request) {
			row := func(id, upn, client string, code int, at time.Time) map[string]any {
				return map[string]any{"id": id, "createdDateTime": at.Format(time.RFC3339), "userPrincipalName": upn,
					"appDisplayName": "Office 365 Exchange Online", "ipAddress": "192.0.2.7", "clientAppUsed": client,
					"status": map[string]any{"errorCode": code, "failureReason": nil}, "appliedConditionalAccessPolicies": []any{}}
			}
			if r.URL.Query().Get("$skiptoken") == "" {
				jsonReply(200, map[string]any{"value": []any{
					row("s1", "Printer@contoso.com", "Authenticated SMTP", 0, now.Add(-time.Hour)),
					row("s2", "printer@contoso.com", "Authenticated SMTP", 0, now.Add(-2*time.Hour)),
				}, "@odata.nextLink": f.srv.URL + r.URL.Path + "?$skiptoken=2"})(w, r)
				return
			}
			jsonReply(200, map[string]any{"value": []any{row("s3", "scanner@contoso.com", "IMAP4", 50126, now.Add(-3*time.Hour))}})(w, r)
		},
	}
	f.cmdlet = map[string]http.HandlerFunc{
		"Get-TransportConfig":    exoRows(map[string]any{"SmtpClientAuthenticationDisabled": true}),
		"Get-OrganizationConfig": exoRows(map[string]any{"DefaultAuthenticationPolicy": "Block Basic", "OAuth2ClientProfileEnabled": true}),
		"Get-AuthenticationPolicy": exoRows(
			map[string]any{"Name": "Block Basic", "AllowBasicAuthSmtp": false, "AllowBasicAuthImap": false, "AllowBasicAuthPop": false},
			map[string]any{"Name": "Allow SMTP", "AllowBasicAuthSmtp": true, "AllowBasicAuthImap": false, "AllowBasicAuthPop": false}),
		"Get-ServicePrincipal": exoRows(map[string]any{"AppId": appID, "ObjectId": spID, "DisplayName": "Scanner app", "Identity": spID}),
		"Get-CASMailbox": func(w http.ResponseWriter, r *http.Request) {
			exoRows(map[string]any{"PrimarySmtpAddress": "scanner@contoso.com", "SmtpClientAuthenticationDisabled": nil, "ImapEnabled": true, "PopEnabled": false},
				map[string]any{"PrimarySmtpAddress": "printer@contoso.com", "SmtpClientAuthenticationDisabled": false, "ImapEnabled": true, "PopEnabled": true})(w, r)
		},
		"Get-User": exoRows(map[string]any{"UserPrincipalName": "scanner@contoso.com", "AuthenticationPolicy": nil},
			map[string]any{"UserPrincipalName": "printer@contoso.com", "AuthenticationPolicy": "Allow SMTP"}),
		"Get-MailboxPermission": exoRows(map[string]any{"Identity": "scanner", "User": `NT AUTHORITY\SELF`, "AccessRights": []string{"FullAccess", "ReadPermission"}, "Deny": false}),
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if r.Header.Get("Authorization") == "" {
			f.mu.Unlock()
			w.WriteHeader(401)
			return
		}
		key := r.URL.Path
		var h http.HandlerFunc
		if strings.HasSuffix(r.URL.Path, "/InvokeCommand") {
			var in struct {
				CmdletInput struct {
					CmdletName string
					Parameters map[string]any
				}
			}
			b, _ := io.ReadAll(r.Body)
			f.bodies = append(f.bodies, string(b))
			_ = json.Unmarshal(b, &in)
			key = in.CmdletInput.CmdletName
			h = f.cmdlet[key]
			if in.CmdletInput.Parameters == nil {
				f.mu.Unlock()
				http.Error(w, "Parameters: null", 400)
				return
			}
		} else {
			h = f.graph[r.URL.Path]
		}
		f.hits[key]++
		f.mu.Unlock()
		if h == nil {
			graphError(404, "Request_ResourceNotFound", "not found")(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTenant) hit(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

func (f *fakeTenant) set(key string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(key, "/") {
		f.graph[key] = h
	} else {
		f.cmdlet[key] = h
	}
}

type staticTok string

func (s staticTok) Token(context.Context) (probe.Token, error) {
	return probe.Token{AccessToken: string(s), ExpiresAt: now.Add(time.Hour)}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newReader(t *testing.T, f *fakeTenant, mod func(*Config)) (*Reader, *clock) {
	t.Helper()
	clk := &clock{t: now}
	cfg := Config{Name: "contoso", TenantID: tenant, ClientID: "reader", ClientSecret: secret1,
		GraphURL: f.srv.URL + "/v1.0", ExchangeURL: f.srv.URL, ExchangeAdmin: true, HTTPClient: f.srv.Client(),
		Timeout: 5 * time.Second, ExchangeTimeout: 5 * time.Second, Now: clk.Now,
		// No pacing in tests: the pace is a politeness, not behaviour
		// under test (TestPace checks it separately).
		Pace:     map[string]time.Duration{wlDirectory: 0, wlCA: 0, wlReports: 0, wlExchange: 0},
		graphTok: staticTok("graph-token"), exoTok: staticTok("exo-token")}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

var fullRequest = Request{AllMailboxes: true, Mailboxes: []string{"scanner@contoso.com"}, Permissions: []string{"scanner@contoso.com"},
	Apps: []string{appID}, SignIns: true}

func TestReadAll(t *testing.T) {
	f := newFakeTenant(t)
	r, _ := newReader(t, f, nil)
	s := r.Read(context.Background(), fullRequest)
	if len(s.Problems) != 0 {
		t.Fatalf("problems: %v", s.Problems)
	}
	if s.SecurityDefaults == nil || !s.SecurityDefaults.IsEnabled {
		t.Errorf("security defaults = %+v", s.SecurityDefaults)
	}
	if len(s.ConditionalAccess) != 2 || !s.ConditionalAccess[0].AppliesToLegacy() || s.ConditionalAccess[1].AppliesToLegacy() {
		t.Errorf("CA (two pages) = %+v", s.ConditionalAccess)
	}
	if s.TransportConfig == nil || !s.TransportConfig.SmtpClientAuthenticationDisabled {
		t.Errorf("transport = %+v", s.TransportConfig)
	}
	if d, src, ok := s.EffectiveSMTPAuthDisabled("Scanner@contoso.com"); !ok || !d || src != "organization" {
		t.Errorf("scanner smtp = %v %q %v", d, src, ok)
	}
	if d, src, ok := s.EffectiveSMTPAuthDisabled("printer@contoso.com"); !ok || d || src != "mailbox" {
		t.Errorf("printer smtp = %v %q %v", d, src, ok)
	}
	if p, src, found, ok := s.EffectivePolicy("scanner@contoso.com"); !ok || !found || p.Name != "Block Basic" || src != "organization default" || p.Allows("smtp") {
		t.Errorf("scanner policy = %+v %q %v %v", p, src, found, ok)
	}
	if p, src, _, ok := s.EffectivePolicy("printer@contoso.com"); !ok || p.Name != "Allow SMTP" || src != "user" || !p.Allows("smtp") {
		t.Errorf("printer policy = %+v %q", p, src)
	}
	if m := s.Mailbox("scanner@contoso.com"); m == nil || !m.PermissionsRead || len(m.Permissions) != 1 || !m.Permissions[0].Has("fullaccess") {
		t.Errorf("permissions = %+v", m)
	}
	app := s.App(appID)
	if app == nil || app.ObjectID != spID || len(app.Credentials) != 1 || app.Credentials[0].Kind != "secret" {
		t.Fatalf("app = %+v", app)
	}
	if sp, ok := s.ExchangeSP(appID); !ok || sp.ObjectID != spID {
		t.Errorf("exchange sp = %+v %v", sp, ok)
	}
	if len(s.SignIns) != 3 || s.SignIns[0].ID != "s1" || s.SignIns[0].UserPrincipalName != "printer@contoso.com" {
		t.Errorf("sign-ins (two pages, newest first, upn lower-cased) = %+v", s.SignIns)
	}
	for _, b := range f.bodies {
		if strings.Contains(b, `"Parameters":null`) {
			t.Errorf("InvokeCommand sent null Parameters: %s", b)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	f := newFakeTenant(t)
	r, clk := newReader(t, f, func(c *Config) { c.TTL = 10 * time.Minute })
	req := Request{Mailboxes: []string{"scanner@contoso.com"}}
	r.Read(context.Background(), req)
	clk.Add(9 * time.Minute)
	s := r.Read(context.Background(), req)
	if n := f.hit("Get-TransportConfig"); n != 1 {
		t.Fatalf("within the TTL Get-TransportConfig was called %d times, want 1", n)
	}
	if s.TransportConfig == nil {
		t.Fatal("cached read lost the transport config")
	}
	clk.Add(2 * time.Minute)
	r.Read(context.Background(), req)
	if n := f.hit("Get-TransportConfig"); n != 2 {
		t.Fatalf("after the TTL Get-TransportConfig was called %d times, want 2", n)
	}
}

func TestDegraded(t *testing.T) {
	nul := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403); _, _ = w.Write(make([]byte, 4096)) }
	huge := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"value":["`))
		_, _ = w.Write([]byte(strings.Repeat("x", MaxBody+10)))
	}
	for _, tc := range []struct {
		name, route string
		h           http.HandlerFunc
		what, kind  string
		why         []string
		check       func(*testing.T, *snapshot.Snapshot)
		problems    int // expected count; 0 means 1
	}{
		{name: "graph permission", route: "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
			h:    graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
			what: "GET /policies/identitySecurityDefaultsEnforcementPolicy", kind: snapshot.KindPermission,
			why:   []string{"lacks the permission", "HTTP 403 Authorization_RequestDenied", "Policy.Read.All", "Insufficient privileges"},
			check: func(t *testing.T, s *snapshot.Snapshot) { nilOrFail(t, s.SecurityDefaults == nil, "security defaults") }},
		{name: "sign-in licence", route: "/v1.0/auditLogs/signIns",
			h:    graphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Tenant is not a B2C tenant and doesn't have premium license"),
			what: "GET /auditLogs/signIns", kind: snapshot.KindLicence, why: []string{"P1 or P2 licence"},
			check: func(t *testing.T, s *snapshot.Snapshot) { nilOrFail(t, !s.SignInsRead, "sign-ins") }},
		{name: "audit permission", route: "/v1.0/auditLogs/signIns",
			h:    graphError(403, "Authentication_MSGraphPermissionMissing", "Application missing MSGraph API 'Read all audit log data' permission"),
			what: "GET /auditLogs/signIns", kind: snapshot.KindPermission, why: []string{"AuditLog.Read.All"}},
		{name: "CA throttled", route: "/v1.0/identity/conditionalAccess/policies",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "2.128")
				graphError(429, "TooManyRequests", "Please retry again later.")(w, r)
			},
			what: "GET /identity/conditionalAccess/policies", kind: snapshot.KindThrottled, why: []string{"throttling", "Retry-After 2.128s"}},
		{name: "exchange no role (NUL body)", route: "Get-TransportConfig", h: nul,
			what: "Get-TransportConfig", kind: snapshot.KindPermission, why: []string{"HTTP 403", "Global Reader"},
			check: func(t *testing.T, s *snapshot.Snapshot) { nilOrFail(t, s.TransportConfig == nil, "transport") }},
		{name: "exchange no app role", route: "Get-OrganizationConfig", h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) },
			what: "Get-OrganizationConfig", kind: snapshot.KindPermission, why: []string{"Exchange.ManageAsApp"}},
		{name: "exchange bad parameter", route: "Get-AuthenticationPolicy",
			h: jsonReply(400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": "Invalid Operation",
				"innererror": map[string]any{"message": "Invalid Operation", "internalexception": map[string]any{
					"message": "Parameter set cannot be resolved", "type": "Microsoft.Exchange.AdminApi.CommandInvocation.AmbiguousParameterSetException"}}}}),
			what: "Get-AuthenticationPolicy", kind: snapshot.KindInvalid, why: []string{"AmbiguousParameterSetException", "Parameter set cannot be resolved"}},
		{name: "service unavailable", route: "Get-ServicePrincipal", h: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) },
			what: "Get-ServicePrincipal", kind: snapshot.KindUnavailable, why: []string{"HTTP 503"}},
		{name: "oversize body", route: "Get-CASMailbox", h: huge,
			what: "Get-CASMailbox -ResultSize Unlimited", kind: snapshot.KindTruncated, why: []string{"larger than 4 MiB"},
			problems: 2}, // and the one-mailbox read of the same cmdlet
		{name: "timeout", route: "/v1.0/applications(appId='" + appID + "')",
			h:    func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			what: "GET /applications(appId='" + appID + "')", kind: snapshot.KindTimeout, why: []string{"timed out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTenant(t)
			f.set(tc.route, tc.h)
			r, _ := newReader(t, f, func(c *Config) { c.Timeout = 300 * time.Millisecond })
			s := r.Read(context.Background(), fullRequest)
			p, ok := s.Problem(tc.what)
			if !ok {
				t.Fatalf("no problem for %q; problems: %v", tc.what, s.Problems)
			}
			if p.Kind != tc.kind {
				t.Errorf("kind = %q, want %q (%s)", p.Kind, tc.kind, p)
			}
			line := p.String()
			if !strings.HasPrefix(line, "could not read "+tc.what+" because ") {
				t.Errorf("line = %q", line)
			}
			for _, w := range tc.why {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
			if strings.ContainsRune(line, 0) {
				t.Errorf("line carries NUL bytes: %q", line)
			}
			// Everything else still read: one problem only.
			if want := max(tc.problems, 1); len(s.Problems) != want {
				t.Errorf("problems = %v, want only %q", s.Problems, tc.what)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func nilOrFail(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Errorf("%s set although its read failed", what)
	}
}

func TestThrottledNotAskedAgainBeforeRetryAfter(t *testing.T) {
	f := newFakeTenant(t)
	f.set("/v1.0/identity/conditionalAccess/policies", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		graphError(429, "TooManyRequests", "Please retry again later.")(w, r)
	})
	r, clk := newReader(t, f, nil)
	r.Read(context.Background(), Request{})
	clk.Add(10 * time.Second)
	s := r.Read(context.Background(), Request{Force: true})
	if n := f.hit("/v1.0/identity/conditionalAccess/policies"); n != 1 {
		t.Fatalf("CA asked %d times within Retry-After, want 1", n)
	}
	if p, ok := s.Problem("GET /identity/conditionalAccess/policies"); !ok || p.Kind != snapshot.KindThrottled {
		t.Fatalf("problem = %+v", s.Problems)
	}
	clk.Add(25 * time.Second)
	r.Read(context.Background(), Request{Force: true})
	if n := f.hit("/v1.0/identity/conditionalAccess/policies"); n != 2 {
		t.Fatalf("CA asked %d times after Retry-After, want 2", n)
	}
}

func TestStaleValueKeptWhenReadFails(t *testing.T) {
	f := newFakeTenant(t)
	r, clk := newReader(t, f, func(c *Config) { c.TTL = time.Minute })
	r.Read(context.Background(), Request{})
	f.set("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	clk.Add(2 * time.Minute)
	s := r.Read(context.Background(), Request{})
	if s.SecurityDefaults == nil || !s.SecurityDefaults.IsEnabled {
		t.Fatal("the last good value was dropped")
	}
	p, ok := s.Problem("GET /policies/identitySecurityDefaultsEnforcementPolicy")
	if !ok || !strings.Contains(p.Why, "showing the read of 2026-12-03T10:00:00Z") {
		t.Fatalf("problem = %+v", s.Problems)
	}
}

func TestEndpointDown(t *testing.T) {
	f := newFakeTenant(t)
	down := httptest.NewTLSServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	r, _ := newReader(t, f, func(c *Config) { c.ExchangeURL = url })
	s := r.Read(context.Background(), Request{})
	p, ok := s.Problem("Get-TransportConfig")
	if !ok || p.Kind != snapshot.KindUnavailable || !strings.Contains(p.Why, "unreachable") {
		t.Fatalf("problem = %+v (all: %v)", p, s.Problems)
	}
	if s.SecurityDefaults == nil {
		t.Error("Graph reads should not depend on Exchange's endpoint")
	}
}

func TestExchangeAdminOff(t *testing.T) {
	f := newFakeTenant(t)
	r, _ := newReader(t, f, func(c *Config) { c.ExchangeAdmin = false })
	s := r.Read(context.Background(), fullRequest)
	if f.hit("Get-TransportConfig") != 0 || s.TransportConfig != nil {
		t.Fatal("InvokeCommand called although exchange_admin is off")
	}
	if p, ok := s.Problem("Exchange settings (InvokeCommand)"); !ok || p.Kind != snapshot.KindDisabled {
		t.Fatalf("problems = %v", s.Problems)
	}
}

func TestOnlyGetCmdlets(t *testing.T) {
	f := newFakeTenant(t)
	r, _ := newReader(t, f, nil)
	_, _, err := r.c.invoke(context.Background(), "Set-TransportConfig", map[string]any{"SmtpClientAuthenticationDisabled": false})
	if err == nil || f.hit("Set-TransportConfig") != 0 {
		t.Fatalf("a Set- cmdlet went out: %v", err)
	}
}

func TestNextLinkToAnotherHostRefused(t *testing.T) {
	f := newFakeTenant(t)
	f.set("/v1.0/identity/conditionalAccess/policies", jsonReply(200, map[string]any{"value": []any{}, "@odata.nextLink": "https://attacker.example/steal"}))
	r, _ := newReader(t, f, nil)
	s := r.Read(context.Background(), Request{})
	p, ok := s.Problem("GET /identity/conditionalAccess/policies")
	if !ok || !strings.Contains(p.Why, "another host") {
		t.Fatalf("problems = %v", s.Problems)
	}
}

func TestPace(t *testing.T) {
	c := &client{next: map[string]time.Time{}, pace: map[string]time.Duration{wlCA: time.Hour}, now: func() time.Time { return now }}
	if err := c.wait(context.Background(), wlCA); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The second CA request must wait an hour: with a cancelled context
	// the wait returns the context's error instead of sending.
	if err := c.wait(ctx, wlCA); err == nil {
		t.Fatal("second request within the pace did not wait")
	}
}

func TestRetryAfterParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"2.128": 2128 * time.Millisecond, "10": 10 * time.Second, "": 0, "junk": 0, "99999": time.Hour} {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestAudit(t *testing.T) {
	f := newFakeTenant(t)
	r, _ := newReader(t, f, nil)
	s := r.Read(context.Background(), fullRequest)
	a := BuildAudit(s, AuditOptions{Now: func() time.Time { return now }, Covered: []string{"scanner@contoso.com"}})
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(b, &top)
	for _, k := range []string{"transport_config", "security_defaults", "authentication_policies", "mailboxes", "conditional_access", "app_credentials", "basic_auth_signins"} {
		if _, ok := top[k]; !ok {
			t.Errorf("audit JSON lacks %q", k)
		}
	}
	if len(a.AppCredentials) != 1 || a.AppCredentials[0].DaysLeft != 10 || !a.AppCredentials[0].Expiring || a.AppCredentials[0].Expired {
		t.Errorf("app credentials = %+v", a.AppCredentials)
	}
	var printer *AuditSignIns
	for i := range a.BasicAuthSignIns {
		if a.BasicAuthSignIns[i].UserPrincipalName == "printer@contoso.com" {
			printer = &a.BasicAuthSignIns[i]
		}
	}
	if printer == nil || printer.Successes != 2 || printer.Covered || printer.Protocol != "smtp" || !printer.LastSeen.Equal(now.Add(-time.Hour)) {
		t.Errorf("printer sign-ins = %+v", printer)
	}
	if fmt.Sprint(a.Cutoff.BasicSMTPUsers) != "[printer@contoso.com]" || a.Cutoff.DaysLeft != 29 {
		t.Errorf("cutoff = %+v", a.Cutoff)
	}
	var def, blocks int
	for _, p := range a.AuthenticationPolicies {
		if p.IsDefault {
			def++
		}
	}
	for _, p := range a.ConditionalAccess {
		if p.Blocks {
			blocks++
		}
	}
	if def != 1 || blocks != 1 {
		t.Errorf("default policies %d, blocking CA %d; want 1 and 1", def, blocks)
	}
	covered := map[string]bool{}
	for _, m := range a.Mailboxes {
		covered[m.Address] = m.Covered
	}
	if !covered["scanner@contoso.com"] || covered["printer@contoso.com"] || len(covered) != 2 {
		t.Errorf("mailboxes = %+v", a.Mailboxes)
	}
}

package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
)

func ptr[T any](v T) *T { return &v }

const (
	tUser  = "scanner@contoso.com"
	tApp   = "11111111-2222-3333-4444-555555555555"
	tSP    = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	smtp23 = "535 5.7.3 Authentication unsuccessful [SN4PR0501CA0054.namprd05.prod.outlook.com]"
	imap23 = "A01 NO AUTHENTICATE failed."
	s4     = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
)

// baseSnapshot is a tenant where nothing blocks: each case turns one
// setting on.
func baseSnapshot() *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Tenant:             "contoso",
		TransportConfig:    &snapshot.TransportConfig{SmtpClientAuthenticationDisabled: false},
		OrganizationConfig: &snapshot.OrganizationConfig{},
		PoliciesRead:       true,
		AuthenticationPolicies: []snapshot.AuthenticationPolicy{
			{Name: "Block Basic Auth", AllowBasicAuthSmtp: false},
			{Name: "Allow Basic", AllowBasicAuthSmtp: true, AllowBasicAuthImap: true, AllowBasicAuthPop: true},
		},
		SecurityDefaults:      &snapshot.SecurityDefaults{IsEnabled: false},
		ConditionalAccessRead: true,
		ServicePrincipalsRead: true,
		ServicePrincipals:     []snapshot.ExchangeSP{{AppID: tApp, ObjectID: tSP, DisplayName: "Scanner app"}},
		Apps:                  map[string]*snapshot.App{tApp: {AppID: tApp, ObjectID: tSP, Read: true}},
		Mailboxes: map[string]*snapshot.Mailbox{tUser: {Address: tUser, Found: true, CASRead: true, UserRead: true, PermissionsRead: true,
			ImapEnabled: ptr(true), PopEnabled: ptr(true),
			Permissions: []snapshot.MailboxPermission{{User: `NT AUTHORITY\SELF`, AccessRights: []string{"FullAccess"}}}}},
	}
}

func basicAttempt(proto probe.Protocol, reply string) probe.Attempt {
	return probe.Attempt{Protocol: proto, Mechanism: probe.Basic, User: tUser, Stage: probe.StageAuth, ErrorKind: probe.ErrRefused, Reply: reply}
}

func appAttempt(proto probe.Protocol, reply string) probe.Attempt {
	a := basicAttempt(proto, reply)
	a.Mechanism = probe.XOAUTH2
	a.Token = &probe.TokenInfo{Flow: "client_credentials", AppID: tApp, ObjectID: tSP, Roles: []string{"IMAP.AccessAsApp"}, Audience: "https://outlook.office365.com"}
	return a
}

func TestApplyTenant(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempt  probe.Attempt
		tweak    func(*snapshot.Snapshot)
		cause    Cause
		conf     Confidence
		evidence []string // substrings of the evidence
		fix      []string // exact fix lines; nil: not checked
	}{
		{name: "security defaults, era-2023 generic SMTP words", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) { s.SecurityDefaults.IsEnabled = true },
			cause: CauseSecurityDefaults, conf: Definitive, evidence: []string{"isEnabled = true"},
			fix: []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false"}},
		{name: "blocking user policy, generic SMTP words", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) { s.Mailboxes[tUser].AuthenticationPolicy = ptr("Block Basic Auth") },
			cause: CauseBasicAuthDisabled, conf: Definitive,
			evidence: []string{"Get-User scanner@contoso.com: AuthenticationPolicy = Block Basic Auth", "AllowBasicAuthSmtp = False"},
			// Only the protocol that failed is opened (verdicts: a fix never
			// widens what a posture check guards).
			fix: []string{"Set-AuthenticationPolicy -Identity 'Block Basic Auth' -AllowBasicAuthSmtp",
				"Set-User -Identity scanner@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)"}},
		{name: "blocking org default policy", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) { s.OrganizationConfig.DefaultAuthenticationPolicy = ptr("Block Basic Auth") },
			cause: CauseBasicAuthDisabled, conf: Definitive, evidence: []string{"DefaultAuthenticationPolicy = Block Basic Auth", "AllowBasicAuthSmtp = False"}},
		{name: "policy wins over security defaults (Exchange refuses first)", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) {
				s.Mailboxes[tUser].AuthenticationPolicy = ptr("Block Basic Auth")
				s.SecurityDefaults.IsEnabled = true
			},
			cause: CauseBasicAuthDisabled, conf: Definitive},
		{name: "tenant SMTP AUTH off, mailbox blank", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) { s.TransportConfig.SmtpClientAuthenticationDisabled = true },
			cause: CauseSMTPAuthDisabledTenant, conf: Definitive,
			evidence: []string{"Get-TransportConfig: SmtpClientAuthenticationDisabled = True", "blank"},
			// The mailbox's own exception, not the organization's switch
			// (TestSMTPAuthTenantFixOnlyTheMailbox).
			fix: []string{"Set-CasMailbox scanner@contoso.com -SmtpClientAuthenticationDisabled $False"}},
		{name: "mailbox SMTP AUTH on overrides tenant off", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) {
				s.TransportConfig.SmtpClientAuthenticationDisabled = true
				s.Mailboxes[tUser].SmtpClientAuthenticationDisabled = ptr(false)
				s.SecurityDefaults.IsEnabled = true
			},
			cause: CauseSecurityDefaults, conf: Definitive},
		{name: "mailbox SMTP AUTH off, XOAUTH2 too", attempt: appAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) { s.Mailboxes[tUser].SmtpClientAuthenticationDisabled = ptr(true) },
			cause: CauseSMTPAuthDisabledMbx, conf: Definitive, fix: []string{"Set-CasMailbox scanner@contoso.com -SmtpClientAuthenticationDisabled $False"}},
		{name: "missing mailbox permission, generic IMAP words", attempt: appAttempt(probe.IMAP, imap23),
			cause: CauseOAuthNotAuthorized, conf: Definitive, evidence: []string{"Get-MailboxPermission scanner@contoso.com: no FullAccess"},
			fix: []string{"Add-MailboxPermission -Identity scanner@contoso.com -User " + tSP + " -AccessRights FullAccess"}},
		{name: "no Exchange service principal", attempt: appAttempt(probe.IMAP, imap23),
			tweak: func(s *snapshot.Snapshot) { s.ServicePrincipals = nil },
			cause: CauseOAuthNotAuthorized, conf: Definitive, evidence: []string{"Get-ServicePrincipal: no service principal for AppId " + tApp},
			fix: []string{"New-ServicePrincipal -AppId " + tApp + " -ObjectId " + tSP, "Add-MailboxPermission -Identity scanner@contoso.com -User " + tSP + " -AccessRights FullAccess"}},
		{name: "service principal under the wrong object id", attempt: appAttempt(probe.IMAP, imap23),
			tweak: func(s *snapshot.Snapshot) { s.ServicePrincipals[0].ObjectID = "99999999-0000-0000-0000-000000000000" },
			cause: CauseOAuthNotAuthorized, conf: Definitive, evidence: []string{"wrong object id"},
			fix: []string{"Remove-ServicePrincipal -Identity 99999999-0000-0000-0000-000000000000 -Confirm:$false",
				"New-ServicePrincipal -AppId " + tApp + " -ObjectId " + tSP, "Add-MailboxPermission -Identity scanner@contoso.com -User " + tSP + " -AccessRights FullAccess"}},
		{name: "IMAP disabled on the mailbox", attempt: appAttempt(probe.IMAP, imap23),
			tweak: func(s *snapshot.Snapshot) {
				m := s.Mailboxes[tUser]
				m.ImapEnabled = ptr(false)
				m.Permissions = append(m.Permissions, snapshot.MailboxPermission{User: "Scanner app", AccessRights: []string{"FullAccess"}})
			},
			cause: CauseProtocolDisabled, conf: Definitive, evidence: []string{"ImapEnabled = False"}},
		{name: "CA for legacy clients and all users (inferred: the log names the policy)", attempt: basicAttempt(probe.SMTP, smtp23),
			tweak: func(s *snapshot.Snapshot) {
				s.ConditionalAccess = []snapshot.ConditionalAccessPolicy{{DisplayName: "Block legacy authentication", State: "enabled",
					ClientAppTypes: []string{"other"}, IncludeUsers: []string{"All"}, BuiltInControls: []string{"block"}}}
			},
			cause: CauseConditionalAccess, conf: Inferred, evidence: []string{"Block legacy authentication"}},
		{name: "words decide, settings contradict", attempt: basicAttempt(probe.SMTP, s4),
			cause: CauseSMTPAuthDisabledTenant, conf: Definitive, evidence: []string{"contradiction", "SmtpClientAuthenticationDisabled = False"}},
		{name: "words and settings agree", attempt: basicAttempt(probe.SMTP, s4),
			tweak: func(s *snapshot.Snapshot) { s.TransportConfig.SmtpClientAuthenticationDisabled = true },
			cause: CauseSMTPAuthDisabledTenant, conf: Definitive, evidence: []string{"Get-TransportConfig: SmtpClientAuthenticationDisabled = True"}},
		{name: "settings silent: unchanged", attempt: basicAttempt(probe.SMTP, smtp23),
			cause: "", conf: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSnapshot()
			if tc.tweak != nil {
				tc.tweak(s)
			}
			atts := []probe.Attempt{tc.attempt}
			before := Classify(atts)
			got := ApplyTenant(atts, before, s)[0]
			if tc.cause == "" {
				if got.Cause != before[0].Cause || got.Confidence != before[0].Confidence || len(got.Evidence) != len(before[0].Evidence) {
					t.Fatalf("changed without a deciding setting: %+v -> %+v", before[0], got)
				}
				return
			}
			if got.Cause != tc.cause || got.Confidence != tc.conf {
				t.Fatalf("got %s/%s, want %s/%s; evidence:\n%s", got.Cause, got.Confidence, tc.cause, tc.conf, strings.Join(got.Evidence, "\n"))
			}
			all := strings.Join(got.Evidence, "\n")
			for _, e := range tc.evidence {
				if !strings.Contains(all, e) {
					t.Errorf("evidence lacks %q:\n%s", e, all)
				}
			}
			if len(got.EvidenceJA) != len(got.Evidence) {
				t.Errorf("evidence_ja has %d lines, evidence %d", len(got.EvidenceJA), len(got.Evidence))
			}
			if tc.fix != nil && !slices.Equal(got.Remedy.Fix, tc.fix) {
				t.Errorf("fix = %q, want %q", got.Remedy.Fix, tc.fix)
			}
			for _, l := range append(got.Remedy.Fix, got.Remedy.Inspect...) {
				if strings.Contains(l, "<policy>") || strings.Contains(l, "<ObjectId>") || strings.Contains(l, "<ServicePrincipalId>") {
					t.Errorf("placeholder left where the tenant could tell: %q", l)
				}
			}
		})
	}
}

// Basic IMAP/POP is retired in Exchange Online: a blocking policy or
// security defaults are shown, never made the verdict (changing them would
// not bring the login back).
func TestApplyTenantImapBasicRetired(t *testing.T) {
	s := baseSnapshot()
	s.Mailboxes[tUser].AuthenticationPolicy = ptr("Block Basic Auth")
	s.SecurityDefaults.IsEnabled = true
	atts := []probe.Attempt{basicAttempt(probe.IMAP, imap23)}
	before := Classify(atts)
	got := ApplyTenant(atts, before, s)[0]
	if got.Cause != before[0].Cause || got.Confidence != before[0].Confidence {
		t.Fatalf("%s/%s became %s/%s", before[0].Cause, before[0].Confidence, got.Cause, got.Confidence)
	}
	all := strings.Join(got.Evidence, "\n")
	if !strings.Contains(all, "AllowBasicAuthImap = False") || !strings.Contains(all, "retired Basic imap for every tenant") {
		t.Fatalf("evidence:\n%s", all)
	}
}

func TestApplyTenantLeavesLocalCausesAndNil(t *testing.T) {
	a := probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.Basic, User: tUser, Stage: probe.StageConnect, ErrorKind: probe.ErrConnect, Error: "connection refused"}
	s := baseSnapshot()
	s.SecurityDefaults.IsEnabled = true
	before := Classify([]probe.Attempt{a})
	if got := ApplyTenant([]probe.Attempt{a}, before, s); got[0].Cause != before[0].Cause || got[0].Cause == CauseSecurityDefaults {
		t.Fatalf("a network error became %s", got[0].Cause)
	}
	if got := ApplyTenant([]probe.Attempt{a}, before, nil); got[0].Cause != before[0].Cause {
		t.Fatal("nil snapshot changed the finding")
	}
}

func TestTenantVarsFillPolicy(t *testing.T) {
	s := baseSnapshot()
	s.OrganizationConfig.DefaultAuthenticationPolicy = ptr("Block Basic Auth")
	v := TenantVars(s, tUser, tApp, Vars{})
	if v.Policy != "Block Basic Auth" || v.ObjectID != tSP || v.ServicePrincipalID != tSP {
		t.Fatalf("vars = %+v", v)
	}
	r := RemedyFor(CauseBasicAuthDisabled, "en", v)
	if !slices.ContainsFunc(r.Fix, func(l string) bool {
		return strings.HasPrefix(l, "Set-AuthenticationPolicy -Identity 'Block Basic Auth' ")
	}) {
		t.Fatalf("fix = %q", r.Fix)
	}
	// The configuration's own value wins.
	if v := TenantVars(s, tUser, "", Vars{Policy: "Mine"}); v.Policy != "Mine" {
		t.Fatalf("policy = %q", v.Policy)
	}
}

func TestApplyTenantSignIns(t *testing.T) {
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	row := func(code int, ago time.Duration, ca ...string) snapshot.SignIn {
		return snapshot.SignIn{ID: "x", CreatedDateTime: start.Add(-ago), UserPrincipalName: tUser, ClientAppUsed: "Authenticated SMTP",
			IPAddress: "192.0.2.7", ErrorCode: code, FailedCAPolicies: ca}
	}
	for _, tc := range []struct {
		name     string
		rows     []snapshot.SignIn
		legacyCA bool
		cause    Cause
		conf     Confidence
		ev       string
	}{
		{name: "security defaults code", rows: []snapshot.SignIn{row(530035, 10*time.Minute)}, cause: CauseSecurityDefaults, conf: Definitive, ev: "errorCode 530035"},
		{name: "CA code names the policy, upgrading the settings' inference", rows: []snapshot.SignIn{row(53003, 5*time.Minute, "Block legacy authentication")},
			legacyCA: true, cause: CauseConditionalAccess, conf: Definitive, ev: "Conditional Access policies that failed: Block legacy authentication"},
		{name: "bad password", rows: []snapshot.SignIn{row(50126, time.Minute)}, cause: CauseBadCredentials, conf: Definitive, ev: "errorCode 50126"},
		{name: "newest row wins", rows: []snapshot.SignIn{row(50126, 50*time.Minute), row(50053, 2*time.Minute)}, cause: CauseAccountLocked, conf: Definitive, ev: "errorCode 50053"},
		{name: "too old: ignored", rows: []snapshot.SignIn{row(530035, 2*time.Hour)}},
		{name: "success row: evidence only", rows: []snapshot.SignIn{row(0, time.Minute)}, ev: "Entra accepted the password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSnapshot()
			s.SignInsRead, s.SignIns = true, tc.rows
			if tc.legacyCA {
				s.ConditionalAccess = []snapshot.ConditionalAccessPolicy{{DisplayName: "Block legacy authentication", State: "enabled",
					ClientAppTypes: []string{"other"}, IncludeUsers: []string{"All"}, BuiltInControls: []string{"block"}}}
			}
			a := basicAttempt(probe.SMTP, smtp23)
			a.Start = start
			before := Classify([]probe.Attempt{a})
			got := ApplyTenant([]probe.Attempt{a}, before, s)[0]
			want, conf := tc.cause, tc.conf
			if want == "" {
				want, conf = before[0].Cause, before[0].Confidence
			}
			if got.Cause != want || got.Confidence != conf {
				t.Fatalf("got %s/%s, want %s/%s:\n%s", got.Cause, got.Confidence, want, conf, strings.Join(got.Evidence, "\n"))
			}
			all := strings.Join(got.Evidence, "\n")
			if tc.ev != "" && !strings.Contains(all, tc.ev) {
				t.Errorf("evidence lacks %q:\n%s", tc.ev, all)
			}
			if tc.ev == "" && strings.Contains(all, "sign-in log") {
				t.Errorf("an unrelated row became evidence:\n%s", all)
			}
			if len(got.EvidenceJA) != len(got.Evidence) {
				t.Errorf("ja %d lines, en %d", len(got.EvidenceJA), len(got.Evidence))
			}
		})
	}
}

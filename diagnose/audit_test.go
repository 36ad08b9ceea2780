package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// aadsts7000215 is the corpus §3 AADSTS7000215 description with the tail
// Entra puts on it: trace id, correlation id and timestamp, each on its own
// CRLF line.
const aadsts7000215 = "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-0000-0000-0000-000000000001'.\r\n" +
	"Trace ID: 0b5a6f1e-8d2c-4e3a-9f10-2b7c4d5e6f70\r\n" +
	"Correlation ID: 1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6\r\n" +
	"Timestamp: 2026-11-01 10:00:00Z"

// The trace tail of a multi-line description never reaches the evidence:
// it changes with every request and would make every finding look new.
func TestTraceTailMultiLine(t *testing.T) {
	a := probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken,
		Token: &probe.TokenInfo{Flow: "client_credentials", Error: "invalid_client", ErrorCodes: []int{7000215}, Description: aadsts7000215}}
	pasted := ClassifyReply(probe.SMTP, probe.XOAUTH2, aadsts7000215)
	for name, f := range map[string]Finding{"attempt": Classify([]probe.Attempt{a})[0], "pasted": pasted} {
		ev := strings.Join(f.Evidence, "\n")
		if strings.Contains(ev, "Trace ID") || strings.Contains(ev, "Correlation ID") || strings.Contains(ev, "Timestamp") ||
			strings.Contains(ev, "0b5a6f1e") || strings.Contains(ev, "1c2d3e4f") {
			t.Errorf("%s: trace tail in the evidence:\n%s", name, ev)
		}
		if !strings.Contains(ev, "Invalid client secret provided") {
			t.Errorf("%s: the description's own words are gone:\n%s", name, ev)
		}
	}
	if got := cleanDescription(aadsts7000215); strings.ContainsAny(got, "\r\n") || !strings.HasSuffix(got, "app '00000000-0000-0000-0000-000000000001'.") {
		t.Errorf("cleanDescription = %q", got)
	}
}

// A Python traceback pasted whole: the tuple's literal ends at its own
// quote, so the server.login(...) after it (and its password) is not taken
// into the reply, the evidence or the JSON.
func TestPythonTupleNotGreedy(t *testing.T) {
	in := `smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]') server.login('u@contoso.com', 'Pyth0nCanary')`
	if got := Unwrap(in); got != "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect." {
		t.Errorf("Unwrap = %q", got)
	}
	f := ClassifyReply(probe.SMTP, probe.Basic, in)
	if f.Cause != CauseBadCredentials {
		t.Errorf("cause %s", f.Cause)
	}
	if all := strings.Join(append(f.Evidence, f.EvidenceJA...), "\n"); strings.Contains(all, "Pyth0nCanary") {
		t.Errorf("the password is in the evidence:\n%s", all)
	}
	// Escaped quotes inside the literal stay part of it.
	if got := Unwrap(`(535, b'5.7.3 it\'s refused') x('y')`); got != "535 5.7.3 it's refused" {
		t.Errorf("escaped quote: Unwrap = %q", got)
	}
}

// The Basic SMTP AUTH caveat speaks in the tense of the day: future before
// 2027-01-01, past from then on, in both languages; security defaults carry
// it too, since they block Basic SMTP the same way.
func TestSMTPBasicCaveatDateAware(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	cases := []struct {
		at     time.Time
		en, ja string
	}{
		{time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "turns off by default for existing tenants at the end of December 2026", "無効になります"},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "was turned off by default for existing tenants at the end of December 2026", "無効になりました"},
	}
	for _, c := range cases {
		now = func() time.Time { return c.at }
		for _, cause := range []Cause{CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx, CauseBasicAuthDisabled, CauseSecurityDefaults} {
			en := strings.Join(RemedyFor(cause, "en", Vars{Protocol: "smtp"}).Caveats, "\n")
			ja := strings.Join(RemedyFor(cause, "ja", Vars{Protocol: "smtp"}).Caveats, "\n")
			if !strings.Contains(en, c.en) || !strings.Contains(ja, c.ja) || !strings.Contains(ja, "2026 年 12 月末") {
				t.Errorf("%s at %s:\nen %s\nja %s", cause, c.at.Format(time.DateOnly), en, ja)
			}
		}
	}
	// Not an SMTP remedy: no SMTP timeline.
	if ca := strings.Join(RemedyFor(CauseSecurityDefaults, "en", Vars{Protocol: "imap"}).Caveats, "\n"); strings.Contains(ca, "December 2026") {
		t.Errorf("security_defaults for IMAP has the SMTP caveat: %s", ca)
	}
}

// The mailbox switch's summary must not claim the inherited organization
// switch: inheritance gives the Tenant reply (corpus S4 vs S6).
func TestMailboxSummaryNotInheritance(t *testing.T) {
	for _, lang := range []string{"en", "ja"} {
		s := RemedyFor(CauseSMTPAuthDisabledMbx, lang, Vars{}).Summary
		if strings.Contains(s, "or the mailbox inherits") || strings.Contains(s, "組織の無効設定を継承しています。") ||
			!strings.Contains(s, "disabled for the Tenant") {
			t.Errorf("%s summary: %s", lang, s)
		}
	}
}

// IMAP/POP Basic: OAuth leads and the policy line is flagged as only for a
// tenant that still allows Basic; SMTP keeps the article's remedy as is.
func TestImapPopBasicLeadsWithOAuth(t *testing.T) {
	for _, p := range []string{"imap", "pop", "imap,pop"} {
		for _, lang := range []string{"en", "ja"} {
			r := RemedyFor(CauseBasicAuthDisabled, lang, Vars{Protocol: p})
			lead := map[string]string{"en": "Lasting fix: move the application to OAuth", "ja": "恒久的な対策: アプリケーションを OAuth"}[lang]
			only := map[string]string{"en": "helps only where the tenant still allows Basic", "ja": "まだ許可されている場合だけ"}[lang]
			if len(r.Steps) == 0 || !strings.HasPrefix(r.Steps[0], lead) {
				t.Errorf("%s/%s: first step %q", p, lang, r.Steps)
			}
			if len(r.Caveats) == 0 || !strings.Contains(r.Caveats[0], only) {
				t.Errorf("%s/%s: first caveat %q", p, lang, r.Caveats)
			}
			// The article's line stays for tenants where it applies.
			if len(r.Fix) == 0 || !strings.HasPrefix(r.Fix[0], "Set-AuthenticationPolicy ") {
				t.Errorf("%s/%s: fix %q", p, lang, r.Fix)
			}
			// The lead says "move to OAuth"; the article's closing "Better:
			// switch to OAuth" would say it twice.
			for _, st := range r.Steps {
				if st == betterOAuthStep[map[string]int{"en": en, "ja": ja}[lang]] {
					t.Errorf("%s/%s: OAuth advised twice: %q", p, lang, r.Steps)
				}
			}
		}
	}
	// SMTP leads with OAuth too (issue 8), with SMTP's own permissions and
	// without the IMAP/POP caveat.
	r := RemedyFor(CauseBasicAuthDisabled, "en", Vars{Protocol: "smtp"})
	if r.Steps[0] != oauthLeadSMTP[en] || strings.Contains(strings.Join(r.Caveats, "\n"), "helps only where the tenant still allows Basic") {
		t.Errorf("smtp: lead or caveats: %q %q", r.Steps, r.Caveats)
	}
	// Tailoring never edits the catalog: the reference (no protocol) still
	// gets the article's steps whole.
	if r := RemedyFor(CauseBasicAuthDisabled, "en", Vars{}); !slices.Contains(r.Steps, betterOAuthStep[en]) || strings.HasPrefix(r.Steps[0], "Lasting fix") {
		t.Errorf("reference: the article's steps are not whole: %q", r.Steps)
	}
}

// The Basic policy fix enables only the protocol(s) whose Basic login
// failed, leads with OAuth and says it is a posture change (issue 8 item 3):
// the article's line enables POP, IMAP and SMTP at once.
func TestBasicFixOnlyFailingProtocols(t *testing.T) {
	cases := []struct {
		proto    string
		switches string
	}{
		{"smtp", "-AllowBasicAuthSmtp"},
		{"imap", "-AllowBasicAuthImap"},
		{"pop", "-AllowBasicAuthPop"},
		{"imap,pop", "-AllowBasicAuthPop -AllowBasicAuthImap"},
		{"smtp,imap", "-AllowBasicAuthImap -AllowBasicAuthSmtp"},
	}
	for _, tc := range cases {
		for _, lang := range []string{"en", "ja"} {
			r := RemedyFor(CauseBasicAuthDisabled, lang, Vars{Protocol: tc.proto, Policy: "Allow SMTP Basic", User: "scanner@contoso.com"})
			want := "Set-AuthenticationPolicy -Identity 'Allow SMTP Basic' " + tc.switches
			if len(r.Fix) != 2 || r.Fix[0] != want {
				t.Errorf("%s/%s: fix %q, want first line %q", tc.proto, lang, r.Fix, want)
			}
			if !strings.HasPrefix(r.Steps[0], map[string]string{"en": "Lasting fix", "ja": "恒久的な対策"}[lang]) {
				t.Errorf("%s/%s: OAuth does not lead: %q", tc.proto, lang, r.Steps)
			}
			posture := map[string]string{"en": "Enabling Basic authentication is a posture change", "ja": "セキュリティ ポスチャの変更"}[lang]
			if !strings.Contains(strings.Join(r.Caveats, "\n"), posture) {
				t.Errorf("%s/%s: no posture-change caveat: %q", tc.proto, lang, r.Caveats)
			}
			own := "New-AuthenticationPolicy -Name 'scanner@contoso.com Basic' " + tc.switches
			if !strings.Contains(strings.Join(r.Steps, "\n"), own) {
				t.Errorf("%s/%s: no own-policy step %q: %q", tc.proto, lang, own, r.Steps)
			}
		}
	}
}

// S14, the announced reply after Basic SMTP AUTH's permanent removal: a
// cause of its own whose fix is the OAuth path, never the policy line.
func TestS14IsRetiredWithOAuthRemedy(t *testing.T) {
	s14 := "550 5.7.30 Basic authentication is not supported for Client Submission."
	for _, in := range []string{s14, "Invalid login: " + s14, "(550, b'5.7.30 Basic authentication is not supported for Client Submission.')"} {
		f := ClassifyReply(probe.SMTP, probe.Basic, in)
		if f.Cause != CauseBasicAuthRetired || f.Confidence != Definitive {
			t.Fatalf("%q: %s (%s)", in, f.Cause, f.Confidence)
		}
		fix := strings.Join(f.Remedy.Fix, "\n")
		if strings.Contains(fix, "Set-AuthenticationPolicy") || !strings.Contains(fix, "New-ServicePrincipal -AppId <AppId>") {
			t.Errorf("fix %q", f.Remedy.Fix)
		}
	}
	if Generic(CauseBasicAuthRetired) {
		t.Error("basic_auth_retired names Exchange's removal: not generic")
	}
}

// The same XOAUTH2 token across protocols (§5b.2), with corpus replies:
// accepted on one protocol and refused generically on another, it is not
// the token; refused on both, the token or grant stays the suspect.
func TestOAuthSameTokenAcrossProtocols(t *testing.T) {
	const (
		i5  = "A01 NO AUTHENTICATE failed."
		s15 = "535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]"
		s2  = "235 2.7.0 Authentication successful"
	)
	exp := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	app := func() *probe.TokenInfo {
		return &probe.TokenInfo{Flow: "client_credentials", Audience: "https://outlook.office365.com", AppID: "app-1", ObjectID: "sp-1",
			TenantID: "tid", Roles: []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"}, ExpiresAt: exp}
	}
	delegated := func() *probe.TokenInfo {
		return &probe.TokenInfo{Flow: "refresh_token", Audience: "https://outlook.office.com", AppID: "app-1", ObjectID: "user-1", TenantID: "tid",
			UPN: "a@contoso.com", Scopes: []string{"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send"}, ExpiresAt: exp}
	}
	refused := func(p probe.Protocol, reply string, tok *probe.TokenInfo) probe.Attempt {
		return probe.Attempt{User: "a@contoso.com", Protocol: p, Mechanism: probe.XOAUTH2, Stage: probe.StageAuth, ErrorKind: probe.ErrRefused, Reply: reply, Token: tok}
	}
	ok := func(p probe.Protocol, reply string, tok *probe.TokenInfo) probe.Attempt {
		return probe.Attempt{User: "a@contoso.com", Protocol: p, Mechanism: probe.XOAUTH2, Stage: probe.StageDone, OK: true, AuthReply: reply, Token: tok}
	}
	other := delegated()
	other.ExpiresAt = exp.Add(time.Hour) // another token
	cases := []struct {
		name     string
		attempts []probe.Attempt
		cause    Cause
		evidence string // "" = no cross-protocol line
	}{
		{"app: imap refused, smtp works", []probe.Attempt{refused(probe.IMAP, i5, app()), ok(probe.SMTP, s2, app())},
			CauseOAuthNotAuthorized, "works on smtp for the same mailbox, so the token itself is fine"},
		{"app: smtp refused, imap works (the opposite)", []probe.Attempt{refused(probe.SMTP, s15, app()), ok(probe.IMAP, "A01 OK AUTHENTICATE completed.", app())},
			CauseOAuthNotAuthorized, "works on imap for the same mailbox, so the token itself is fine"},
		{"delegated: imap refused, smtp works", []probe.Attempt{refused(probe.IMAP, i5, delegated()), ok(probe.SMTP, s2, delegated())},
			CauseUnknown, "imap is disabled for this mailbox"},
		{"delegated: refused on both", []probe.Attempt{refused(probe.IMAP, i5, delegated()), refused(probe.SMTP, s15, delegated())},
			CauseUnknown, "refused on smtp too"},
		{"delegated: another token works elsewhere", []probe.Attempt{refused(probe.IMAP, i5, delegated()), ok(probe.SMTP, s2, other)},
			CauseUnknown, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := Classify(c.attempts)[0]
			ev := strings.Join(f.Evidence, "\n")
			if f.Cause != c.cause || (c.evidence != "" && !strings.Contains(ev, c.evidence)) ||
				(c.evidence == "" && strings.Contains(ev, "same token")) {
				t.Errorf("cause %s (want %s)\n%s", f.Cause, c.cause, ev)
			}
			if len(f.Evidence) != len(f.EvidenceJA) {
				t.Errorf("evidence en/ja differ in length")
			}
		})
	}
	// Another server: the same token works on POP and is refused on IMAP,
	// so it is not the token (before, oauth_token_invalid).
	dov := delegated()
	f := Classify([]probe.Attempt{refused(probe.IMAP, "a NO [AUTHENTICATIONFAILED] Authentication failed.", dov), ok(probe.POP, "+OK Logged in.", delegated())})[0]
	if f.Cause != CauseUnknown || !strings.Contains(strings.Join(f.Evidence, "\n"), "refuses the token for imap only") {
		t.Errorf("foreign server: %s %q", f.Cause, f.Evidence)
	}
}

// A bare "5.7.3 Authentication unsuccessful" (the client dropped the 535)
// is the same reply as S15/S16 and gets the same diagnosis.
func TestBare573(t *testing.T) {
	with := "535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]"
	for _, m := range []probe.Mechanism{probe.XOAUTH2, probe.Basic} {
		want := ClassifyReply(probe.SMTP, m, with)
		for _, bare := range []string{
			"5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]",
			"The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]",
		} {
			got := ClassifyReply(probe.SMTP, m, bare)
			if got.Cause != want.Cause || got.Confidence != want.Confidence {
				t.Errorf("%s %q: %s/%s, with 535: %s/%s", m, bare, got.Cause, got.Confidence, want.Cause, want.Confidence)
			}
			if !strings.Contains(strings.Join(got.Evidence, "\n"), "generic SMTP refusal") {
				t.Errorf("%s %q: not matched as S15/S16: %q", m, bare, got.Evidence)
			}
		}
	}
}

// While <policy> is unknown the remedy says how to find and give it; once
// given, the hint goes.
func TestPolicyPlaceholderHint(t *testing.T) {
	for _, lang := range []string{"en", "ja"} {
		r := RemedyFor(CauseBasicAuthDisabled, lang, Vars{User: "a@contoso.com", Protocol: "smtp"})
		if !strings.Contains(strings.Join(r.Steps, "\n"), "--auth-policy") {
			t.Errorf("%s: no hint for <policy>: %q", lang, r.Steps)
		}
		r = RemedyFor(CauseBasicAuthDisabled, lang, Vars{User: "a@contoso.com", Policy: "P", Protocol: "smtp"})
		if strings.Contains(strings.Join(r.Steps, "\n"), "--auth-policy") {
			t.Errorf("%s: hint with the policy known: %q", lang, r.Steps)
		}
	}
}

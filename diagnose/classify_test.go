package diagnose

import (
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

func TestUnwrapClientWrappers(t *testing.T) {
	s4 := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
	cases := []struct {
		name, in, want string
	}{
		{"nodemailer", "Invalid login: " + s4 + " [TY1PR01CA0183.jpnprd01.prod.outlook.com]", s4},
		{"nodemailer-error", "Error: Invalid login: " + s4, s4},
		{".NET System.Net.Mail", "The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. Error: " + s4 + " [TY1PR01CA0183.jpnprd01.prod.outlook.com]", s4},
		{".NET no inner code", "The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail.", "5.7.57 Client not authenticated to send mail."},
		{"python smtplib", "(535, b'5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]')", "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect."},
		{"python smtplib exception", "smtplib.SMTPAuthenticationError: (535, b'5.7.139 Authentication unsuccessful, account locked. Contact your administrator. [CH2PR19CA0002.namprd19.prod.outlook.com 2026-08-28T19:45:50.437Z 08DF04C6D9A404E7]')", "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator."},
		{"python double quotes", `(535, b"5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.")`, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator."},
		{"mailkit", "535: 5.7.3 Authentication unsuccessful [AM0PR06CA0126.eurprd06.prod.outlook.com 2024-02-14T14:50:26.590Z 08DC2D372B4C3DED]", "535 5.7.3 Authentication unsuccessful"},
		{"mailkit old", "AuthenticationInvalidCredentials: 5.7.3 Authentication unsuccessful [BN3PR03CA0067.namprd03.prod.outlook.com]", "5.7.3 Authentication unsuccessful"},
		{"imaplib", "b'LOGIN failed.'", "LOGIN failed."},
		{"imaplib list", "[b'LOGIN failed.']", "LOGIN failed."},
		{"imaplib exception", "imaplib.IMAP4.error: b'LOGIN failed.'", "LOGIN failed."},
		{"poplib", "poplib.error_proto: b'-ERR Logon failure: unknown user name or bad password.'", "-ERR Logon failure: unknown user name or bad password."},
		{"javamail", "javax.mail.AuthenticationFailedException: AUTHENTICATE failed.", "AUTHENTICATE failed."},
		{"node-imap", "Error: LOGIN failed. Account is blocked. Login to your account via a web browser to verify your identity.", "LOGIN failed. Account is blocked. Login to your account via a web browser to verify your identity."},
		{"bare", "A01 NO AUTHENTICATE failed.", "NO AUTHENTICATE failed."},
	}
	for _, c := range cases {
		if got := Unwrap(c.in); got != c.want {
			t.Errorf("%s: Unwrap\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// Every 535 text of the corpus, under every client wrapper, gets the cause
// it gets bare (issue 3 "done when").
func TestWrappedCorpus535(t *testing.T) {
	wrappers := map[string]func(string) string{
		"nodemailer": func(s string) string { return "Invalid login: " + s },
		".NET": func(s string) string {
			return "The SMTP server requires a secure connection or the client was not authenticated. The server response was: 5.7.57 Client not authenticated to send mail. Error: " + s
		},
		"python": func(s string) string {
			code, rest, _ := strings.Cut(strings.Replace(s, "535: ", "535 ", 1), " ")
			return "(" + code + ", b'" + strings.ReplaceAll(rest, "'", `\'`) + "')"
		},
		"mailkit": func(s string) string { return strings.Replace(s, "535 ", "535: ", 1) },
	}
	n := 0
	for _, c := range corpus {
		if !strings.HasPrefix(c.text, "535") {
			continue
		}
		for name, wrap := range wrappers {
			f := ClassifyReply(c.p, c.m, wrap(c.text))
			if f.Cause != c.want || f.Confidence != c.conf {
				t.Errorf("%s under %s: got %s/%s, want %s/%s (%q)", c.row, name, f.Cause, f.Confidence, c.want, c.conf, wrap(c.text))
			}
			n++
		}
	}
	if n < 40 {
		t.Fatalf("only %d wrapped cases ran", n)
	}
}

func basic(p probe.Protocol, reply string) probe.Attempt {
	return probe.Attempt{User: "alice@contoso.com", Protocol: p, Mechanism: probe.Basic, Stage: probe.StageAuth, Reply: reply, ErrorKind: probe.ErrRefused}
}

func xo(p probe.Protocol, reply string, tok *probe.TokenInfo) probe.Attempt {
	return probe.Attempt{User: "alice@contoso.com", Protocol: p, Mechanism: probe.XOAUTH2, Stage: probe.StageAuth, Reply: reply, ErrorKind: probe.ErrRefused, Token: tok}
}

func ok(p probe.Protocol, m probe.Mechanism) probe.Attempt {
	return probe.Attempt{User: "alice@contoso.com", Protocol: p, Mechanism: m, Stage: probe.StageDone, OK: true}
}

const (
	i2 = "A1 NO LOGIN failed."
	i5 = "A01 NO AUTHENTICATE failed."
	i6 = "A3 BAD User is authenticated but not connected."
	p3 = "-ERR Logon failure: unknown user name or bad password."
	p6 = "-ERR Authentication failure: unknown user name or bad password."
)

func TestCrossAttempt(t *testing.T) {
	cc := &probe.TokenInfo{Flow: "client_credentials", Audience: "https://outlook.office365.com", Roles: []string{"IMAP.AccessAsApp", "POP.AccessAsApp"}}
	delegated := &probe.TokenInfo{Flow: "refresh_token", Audience: "https://outlook.office.com", Scopes: []string{"IMAP.AccessAsUser.All"}, UPN: "alice@contoso.com"}
	cases := []struct {
		name     string
		attempts []probe.Attempt
		want     []Cause
		conf     Confidence // of the first attempt
	}{
		{"imap basic generic, xoauth2 works on imap", []probe.Attempt{basic(probe.IMAP, i2), ok(probe.IMAP, probe.XOAUTH2)},
			[]Cause{CauseBasicAuthDisabled, CauseOK}, Inferred},
		{"pop basic generic, basic works on smtp", []probe.Attempt{basic(probe.POP, p3), ok(probe.SMTP, probe.Basic)},
			[]Cause{CauseBasicAuthDisabled, CauseOK}, Inferred},
		{"imap basic generic, smtp says credentials incorrect", []probe.Attempt{basic(probe.IMAP, i2), basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]")},
			[]Cause{CauseBadCredentials, CauseBadCredentials}, Inferred},
		{"pop basic generic, smtp says locked", []probe.Attempt{basic(probe.POP, p3), basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator.")},
			[]Cause{CauseAccountLocked, CauseAccountLocked}, Inferred},
		{"imap basic generic, smtp says security defaults", []probe.Attempt{basic(probe.IMAP, i2), basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.")},
			[]Cause{CauseSecurityDefaults, CauseSecurityDefaults}, Inferred},
		{"imap basic generic, ROPC says 50126", []probe.Attempt{basic(probe.IMAP, i2), {Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken, Token: &probe.TokenInfo{Flow: "password", Error: "invalid_grant", ErrorCodes: []int{50126}}}},
			[]Cause{CauseBadCredentials, CauseBadCredentials}, Inferred},
		{"imap basic generic, client-credentials token refused tells nothing about the password", []probe.Attempt{basic(probe.IMAP, i2), {Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken, Token: &probe.TokenInfo{Flow: "client_credentials", Error: "invalid_client", ErrorCodes: []int{7000215}}}},
			[]Cause{CauseUnknown, CauseTokenRequestFailed}, Unsure},
		{"imap basic generic alone", []probe.Attempt{basic(probe.IMAP, i2)}, []Cause{CauseUnknown}, Unsure},
		{"imap basic generic, xoauth2 fails too", []probe.Attempt{basic(probe.IMAP, i2), xo(probe.IMAP, i5, nil)}, []Cause{CauseUnknown, CauseOAuthTokenInvalid}, Unsure},
		{"imap basic generic, LOGINDISABLED advertised", []probe.Attempt{func() probe.Attempt {
			a := basic(probe.IMAP, i2)
			a.Capabilities = []string{"IMAP4", "IMAP4rev1", "AUTH=XOAUTH2", "LOGINDISABLED", "SASL-IR"}
			return a
		}()}, []Cause{CauseBasicAuthDisabled}, Inferred},
		{"imap AUTHENTICATE PLAIN generic, xoauth2 works", []probe.Attempt{basic(probe.IMAP, i5), ok(probe.IMAP, probe.XOAUTH2)}, []Cause{CauseBasicAuthDisabled, CauseOK}, Inferred},
		{"xoauth2 graph audience", []probe.Attempt{xo(probe.IMAP, i5, &probe.TokenInfo{Audience: "https://graph.microsoft.com", Problems: []string{probe.ProblemAudGraph + ": aud is Microsoft Graph"}})},
			[]Cause{CauseOAuthTokenInvalid}, Inferred},
		// exo-responses.md §3: a client-credentials token with aud
		// https://ps.outlook.com still failed IMAP (MailKit#1811).
		{"xoauth2 ps.outlook.com audience", []probe.Attempt{xo(probe.IMAP, i5, &probe.TokenInfo{Flow: "client_credentials", Audience: "https://ps.outlook.com", Roles: []string{"IMAP.AccessAsApp"}, Problems: []string{probe.ProblemAudUnusual + ": aud is https://ps.outlook.com"}})},
			[]Cause{CauseOAuthTokenInvalid}, Inferred},
		{"xoauth2 expired", []probe.Attempt{xo(probe.SMTP, "535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", &probe.TokenInfo{Problems: []string{probe.ProblemExpired + ": the token expired at 2026-01-01T00:00:00Z"}})},
			[]Cause{CauseOAuthTokenInvalid}, Inferred},
		{"xoauth2 missing role", []probe.Attempt{xo(probe.POP, p6, &probe.TokenInfo{Flow: "client_credentials", Roles: []string{"IMAP.AccessAsApp"}, Problems: []string{probe.ProblemMissingRole + ": roles [IMAP.AccessAsApp] lack POP.AccessAsApp"}})},
			[]Cause{CauseOAuthNotAuthorized}, Inferred},
		{"xoauth2 no permission", []probe.Attempt{xo(probe.IMAP, i5, &probe.TokenInfo{Flow: "client_credentials", Problems: []string{probe.ProblemNoPermission + ": neither roles nor scp"}})},
			[]Cause{CauseOAuthNotAuthorized}, Inferred},
		{"xoauth2 clean app token refused: service principal", []probe.Attempt{xo(probe.IMAP, i5, cc)}, []Cause{CauseOAuthNotAuthorized}, Inferred},
		{"xoauth2 clean delegated token refused: nothing decides", []probe.Attempt{xo(probe.IMAP, i5, delegated)}, []Cause{CauseUnknown}, Unsure},
		{"I6 app token", []probe.Attempt{xo(probe.IMAP, i6, cc)}, []Cause{CauseOAuthNotAuthorized}, Inferred},
		{"I6 own delegated token", []probe.Attempt{xo(probe.IMAP, i6, delegated)}, []Cause{CauseProtocolDisabled}, Inferred},
		{"I6 token for another user", []probe.Attempt{xo(probe.IMAP, i6, &probe.TokenInfo{UPN: "bob@contoso.com", Scopes: []string{"IMAP.AccessAsUser.All"}, Problems: []string{probe.ProblemUserMismatch + ": issued to bob"}})},
			[]Cause{CauseOAuthNotAuthorized}, Inferred},
		{"S11 with ROPC saying MFA", []probe.Attempt{basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator."), {Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken, Token: &probe.TokenInfo{Flow: "password", Error: "invalid_grant", ErrorCodes: []int{50076}}}},
			[]Cause{CauseMFARequired, CauseMFARequired}, Inferred},
		{"S11 alone", []probe.Attempt{basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.")},
			[]Cause{CauseConditionalAccess}, Inferred},
		{"order and OK kept", []probe.Attempt{ok(probe.SMTP, probe.Basic), basic(probe.IMAP, "a1 NO Basic authentication is disabled."), ok(probe.IMAP, probe.XOAUTH2)},
			[]Cause{CauseOK, CauseBasicAuthDisabled, CauseOK}, Definitive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := Classify(c.attempts)
			if len(fs) != len(c.attempts) {
				t.Fatalf("got %d findings for %d attempts", len(fs), len(c.attempts))
			}
			for i, f := range fs {
				if f.Cause != c.want[i] {
					t.Errorf("attempt %d: got %s (%s), want %s\nevidence: %q", i, f.Cause, f.Confidence, c.want[i], f.Evidence)
				}
				if f.Protocol != string(c.attempts[i].Protocol) || f.Mechanism != string(c.attempts[i].Mechanism) {
					t.Errorf("attempt %d: finding is for %s/%s", i, f.Protocol, f.Mechanism)
				}
			}
			if fs[0].Confidence != c.conf {
				t.Errorf("confidence %s, want %s", fs[0].Confidence, c.conf)
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	cases := []struct {
		codes []int
		err   string
		want  Cause
		conf  Confidence
	}{
		{[]int{50126}, "invalid_grant", CauseBadCredentials, Definitive},
		{[]int{50053}, "invalid_grant", CauseAccountLocked, Definitive},
		{[]int{50057}, "invalid_grant", CauseAccountDisabled, Definitive},
		{[]int{50076}, "invalid_grant", CauseMFARequired, Definitive},
		{[]int{50079}, "interaction_required", CauseMFARequired, Definitive},
		{[]int{53003}, "invalid_grant", CauseConditionalAccess, Definitive},
		{[]int{530035}, "invalid_grant", CauseSecurityDefaults, Definitive},
		{[]int{7000215}, "invalid_client", CauseTokenRequestFailed, Definitive},
		{[]int{7000222}, "invalid_client", CauseTokenRequestFailed, Definitive},
		{[]int{700016}, "unauthorized_client", CauseTokenRequestFailed, Definitive},
		{[]int{90002}, "invalid_request", CauseTokenRequestFailed, Definitive},
		{[]int{70011}, "invalid_scope", CauseTokenRequestFailed, Definitive},
		{[]int{1002012}, "invalid_scope", CauseTokenRequestFailed, Definitive},
		{[]int{700082}, "invalid_grant", CauseTokenRequestFailed, Definitive},
		{[]int{50173}, "invalid_grant", CauseTokenRequestFailed, Definitive},
		{[]int{65001}, "invalid_grant", CauseOAuthNotAuthorized, Definitive},
		{[]int{50196}, "", CauseThrottled, Definitive},
		{[]int{99999999}, "invalid_grant", CauseTokenRequestFailed, Definitive},
		{nil, "interaction_required", CauseMFARequired, Inferred},
		{nil, "temporarily_unavailable", CauseThrottled, Inferred},
		{nil, "", CauseTokenRequestFailed, Inferred},
	}
	for _, c := range cases {
		a := probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken,
			Token: &probe.TokenInfo{Flow: "password", Error: c.err, ErrorCodes: c.codes, Description: "AADSTS0: x. Trace ID: 0b5a Correlation ID: 1c2d Timestamp: 2026-11-01 10:00:00Z"}}
		f := Classify([]probe.Attempt{a})[0]
		if f.Cause != c.want || f.Confidence != c.conf {
			t.Errorf("codes %v error %q: got %s/%s, want %s/%s", c.codes, c.err, f.Cause, f.Confidence, c.want, c.conf)
		}
		for _, e := range f.Evidence {
			if strings.Contains(e, "Trace ID") || strings.Contains(e, "Correlation") {
				t.Errorf("evidence keeps trace ids: %q", e)
			}
		}
	}
	// The code may only be in the description.
	a := probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken,
		Token: &probe.TokenInfo{Error: "invalid_grant", Description: "AADSTS50053: The account is locked, you've tried to sign in too many times with an incorrect user ID or password."}}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause != CauseAccountLocked {
		t.Errorf("code in description: got %s", f.Cause)
	}
	// Pasted into diagnose.
	if f := ClassifyReply(probe.SMTP, probe.XOAUTH2, "AADSTS530035: BlockedBySecurityDefaults - Access has been blocked by security defaults."); f.Cause != CauseSecurityDefaults {
		t.Errorf("pasted AADSTS530035: got %s", f.Cause)
	}
	// A token endpoint that cannot be reached: its own local cause (443,
	// not the mail ports).
	a = probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrConnect, Error: "dial tcp: connection refused"}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause != CauseTokenEndpointUnreachable {
		t.Errorf("token endpoint unreachable: got %s", f.Cause)
	}
}

func TestLocalErrors(t *testing.T) {
	cases := []struct {
		kind  probe.ErrorKind
		stage probe.Stage
		want  Cause
	}{
		{probe.ErrDNS, probe.StageDNS, CauseNetworkError},
		{probe.ErrConnect, probe.StageConnect, CauseNetworkError},
		{probe.ErrTLS, probe.StageTLS, CauseTLSError},
		{probe.ErrTimeout, probe.StageAuth, CauseTimeout},
		{probe.ErrTimeout, probe.StageGreeting, CauseTimeout},
		{probe.ErrPolicy, probe.StageCapability, CauseTLSError},
		{probe.ErrProtocol, probe.StageGreeting, CauseUnknown},
		{probe.ErrConfig, probe.StageConnect, CauseConfigInvalid},
	}
	for _, c := range cases {
		a := probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: c.stage, ErrorKind: c.kind, Error: "something went wrong"}
		f := Classify([]probe.Attempt{a})[0]
		if f.Cause != c.want {
			t.Errorf("%s at %s: got %s, want %s", c.kind, c.stage, f.Cause, c.want)
		}
		if len(f.Evidence) == 0 {
			t.Errorf("%s: no evidence", c.kind)
		}
	}
	// The server's words decide before the local error kind.
	a := probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageMailbox, ErrorKind: probe.ErrProtocol,
		AuthReply: "A01 OK AUTHENTICATE completed.", Reply: "A02 BAD Request is throttled. Suggested Backoff Time: 299609 milliseconds"}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause != CauseThrottled {
		t.Errorf("words first: got %s", f.Cause)
	}
	// A timeout after a successful AUTH is a timeout, not ok.
	a = probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageMailbox, ErrorKind: probe.ErrTimeout, AuthReply: "A01 OK AUTHENTICATE completed."}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause != CauseTimeout {
		t.Errorf("timeout after AUTH: got %s", f.Cause)
	}
}

// Against any other server only generic causes appear (DESIGN principle 4),
// whatever the comparisons.
func TestNonExchangeServersGetGenericCauses(t *testing.T) {
	texts := []struct {
		p    probe.Protocol
		text string
	}{
		{probe.IMAP, "a1 NO [AUTHENTICATIONFAILED] Authentication failed."},
		{probe.POP, "-ERR [AUTH] Authentication failed."},
		{probe.SMTP, "535 5.7.8 Authentication failed"},
		{probe.SMTP, "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6"},
		{probe.IMAP, "a1 NO [UNAVAILABLE] Temporary authentication failure."},
		{probe.POP, "-ERR [SYS/TEMP] Temporary authentication failure."},
		{probe.SMTP, "454 4.7.0 Temporary authentication failure"},
		{probe.IMAP, "a1 NO [AUTHENTICATIONFAILED] Authentication failed. [host.example.org 2026-01-01T00:00:00Z ABC]"},
	}
	for _, tx := range texts {
		for _, m := range []probe.Mechanism{probe.Basic, probe.XOAUTH2, ""} {
			f := ClassifyReply(tx.p, m, tx.text)
			if !Generic(f.Cause) {
				t.Errorf("%q (%s): Exchange-specific cause %s", tx.text, m, f.Cause)
			}
			// With comparisons that would make an Exchange text
			// basic_auth_disabled.
			fs := Classify([]probe.Attempt{basic(tx.p, tx.text), ok(tx.p, probe.XOAUTH2), ok(probe.SMTP, probe.Basic)})
			if !Generic(fs[0].Cause) {
				t.Errorf("%q with comparisons: Exchange-specific cause %s", tx.text, fs[0].Cause)
			}
		}
	}
	if f := ClassifyReply(probe.IMAP, probe.Basic, "a1 NO [AUTHENTICATIONFAILED] Authentication failed."); f.Cause != CauseBadCredentials || f.Confidence != Inferred {
		t.Errorf("dovecot basic: got %s/%s, want bad_credentials/inferred", f.Cause, f.Confidence)
	}
	if f := ClassifyReply(probe.IMAP, probe.XOAUTH2, "a1 NO [AUTHENTICATIONFAILED] Authentication failed."); f.Cause != CauseOAuthTokenInvalid {
		t.Errorf("dovecot xoauth2: got %s", f.Cause)
	}
}

func TestUnknownMechanismStaysUnsure(t *testing.T) {
	for _, text := range []string{"535 5.7.3 Authentication unsuccessful", "NO LOGIN failed.", "a1 NO [AUTHENTICATIONFAILED] Authentication failed."} {
		f := ClassifyReply(probe.SMTP, "", text)
		if f.Cause != CauseUnknown || f.Confidence != Unsure {
			t.Errorf("%q without mechanism: got %s/%s", text, f.Cause, f.Confidence)
		}
	}
}

func TestStripNoise(t *testing.T) {
	cases := map[string]string{
		"535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]": "535 5.7.3 Authentication unsuccessful",
		"A01 NO AUTHENTICATE failed.":                         "NO AUTHENTICATE failed.",
		"* BYE Session invalidated - AccessTokenExpired":      "BYE Session invalidated - AccessTokenExpired",
		"a1 NO [AUTHENTICATIONFAILED] Authentication failed.": "NO [AUTHENTICATIONFAILED] Authentication failed.",
		"NO NO x": "NO NO x",
		"432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471.namprd08.prod.outlook.com]":  "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
		"530 5.7.57 Client not authenticated to send mail. [US22278CA0034.US7P278.PROD.OUTLOOK.COM 2024-10-24…":              "530 5.7.57 Client not authenticated to send mail.",
		"  535 5.7.139 Authentication unsuccessful,\r\n  account locked.  [X.Y 2026-08-28T19:45:50.437Z 08DF04C6D9A404E7]  ": "535 5.7.139 Authentication unsuccessful, account locked.",
	}
	for in, want := range cases {
		if got := StripNoise(in); got != want {
			t.Errorf("StripNoise(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

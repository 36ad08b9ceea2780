package diagnose

import (
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

// Issue 8 item 1: a posture holds only on evidence that means Basic cannot
// log in. An inferred basic_auth_disabled whose only support is "XOAUTH2
// works on the same mailbox" is what a wrong password looks like too, so it
// leaves the posture unverified; the server's words, another protocol's
// Basic login with the same password, or a server that takes no password
// login still prove it.
func TestPostureProofByEvidence(t *testing.T) {
	generic := "NO AUTHENTICATE failed."
	loginDisabled := func() probe.Attempt {
		a := basic(probe.IMAP, generic)
		a.Capabilities = []string{"IMAP4rev1", "AUTH=XOAUTH2", "LOGINDISABLED", "SASL-IR"}
		return a
	}
	cases := []struct {
		name      string
		attempts  []probe.Attempt // the first is the posture check's
		wantCause Cause
		wantWeak  bool
		proves    bool
	}{
		{"imap basic refused, only xoauth2 works (a wrong password looks the same)",
			[]probe.Attempt{basic(probe.IMAP, generic), ok(probe.IMAP, probe.XOAUTH2)},
			CauseBasicAuthDisabled, true, false},
		{"pop basic refused, only xoauth2 works",
			[]probe.Attempt{basic(probe.POP, "-ERR Logon failure: unknown user name or bad password."), ok(probe.POP, probe.XOAUTH2)},
			CauseBasicAuthDisabled, true, false},
		{"imap basic refused, smtp basic works with the same password",
			[]probe.Attempt{basic(probe.IMAP, generic), ok(probe.SMTP, probe.Basic)},
			CauseBasicAuthDisabled, false, true},
		{"imap basic refused, xoauth2 and smtp basic both work: the stronger comparison decides",
			[]probe.Attempt{basic(probe.IMAP, generic), ok(probe.IMAP, probe.XOAUTH2), ok(probe.SMTP, probe.Basic)},
			CauseBasicAuthDisabled, false, true},
		{"the server takes no password login (LOGINDISABLED, no AUTH=PLAIN)",
			[]probe.Attempt{loginDisabled(), ok(probe.IMAP, probe.XOAUTH2)},
			CauseBasicAuthDisabled, false, true},
		{"the server's words: SMTP AUTH off for the tenant",
			[]probe.Attempt{basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.")},
			CauseSMTPAuthDisabledTenant, false, true},
		{"the server's words: basic authentication is disabled",
			[]probe.Attempt{basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."), ok(probe.SMTP, probe.XOAUTH2)},
			CauseBasicAuthDisabled, false, true},
		{"the server's words (inferred cause): the account has IMAP disabled",
			[]probe.Attempt{basic(probe.IMAP, "NO Account has IMAP disabled.")},
			CauseProtocolDisabled, false, true},
		{"another protocol's words with the same password: security defaults",
			[]probe.Attempt{basic(probe.IMAP, generic), ok(probe.IMAP, probe.XOAUTH2),
				basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.")},
			CauseSecurityDefaults, false, true},
		{"a password token request blocked by Conditional Access (the policy may not cover legacy clients)",
			[]probe.Attempt{basic(probe.IMAP, generic), ropc(53003)},
			CauseConditionalAccess, true, false},
		{"a password token request blocked by security defaults (they block legacy authentication everywhere)",
			[]probe.Attempt{basic(probe.IMAP, generic), ropc(530035)},
			CauseSecurityDefaults, false, true},
		{"a wrong password in so many words",
			[]probe.Attempt{basic(probe.SMTP, "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.")},
			CauseBadCredentials, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []Finding{Classify(tc.attempts)[0], ClassifyAt(tc.attempts, 0)} {
				if f.Cause != tc.wantCause || f.Weak != tc.wantWeak {
					t.Fatalf("cause %s weak %v (%s), want %s weak %v\n%s", f.Cause, f.Weak, f.Confidence, tc.wantCause, tc.wantWeak, strings.Join(f.Evidence, "\n"))
				}
				if got := PostureProof(f); got != tc.proves {
					t.Errorf("PostureProof = %v, want %v (cause %s, %s, weak %v)", got, tc.proves, f.Cause, f.Confidence, f.Weak)
				}
			}
		})
	}
}

func ropc(code int) probe.Attempt {
	return probe.Attempt{User: "alice@contoso.com", Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrToken,
		Token: &probe.TokenInfo{Flow: "password", Error: "invalid_grant", ErrorCodes: []int{code}}}
}

// Confidence decides with the cause: a weak inference never proves, the
// tenant's settings (definitive) outweigh its weakness, and an unsure
// finding proves nothing whatever its cause.
func TestProvesPostureOf(t *testing.T) {
	cases := []struct {
		c    Cause
		conf Confidence
		weak bool
		want bool
	}{
		{CauseBasicAuthDisabled, Definitive, false, true},
		{CauseBasicAuthDisabled, Inferred, false, true},
		{CauseBasicAuthDisabled, Inferred, true, false},
		{CauseBasicAuthDisabled, Definitive, true, true},
		{CauseBasicAuthDisabled, Unsure, false, false},
		{CauseBasicAuthDisabled, "", false, true}, // a record older than confidences
		{CauseBasicAuthDisabled, "", true, false},
		{CauseBadCredentials, Definitive, false, false},
		{CauseTimeout, Definitive, false, false},
	}
	for _, tc := range cases {
		if got := ProvesPostureOf(tc.c, tc.conf, tc.weak); got != tc.want {
			t.Errorf("ProvesPostureOf(%s, %q, weak=%v) = %v, want %v", tc.c, tc.conf, tc.weak, got, tc.want)
		}
	}
}

// The remedy of a weakly inferred, unverified posture never turns Basic on
// (the cause's own remedy would): no fix lines, and it says what would
// prove the refusal.
func TestPostureUnverifiedRemedyNeverWidens(t *testing.T) {
	for _, lang := range []string{"en", "ja"} {
		vars := Vars{Mailbox: "alice@contoso.com", Protocol: "imap"}
		r := PostureUnverifiedRemedy(CauseBasicAuthDisabled, lang, vars)
		if len(r.Fix) != 0 {
			t.Errorf("%s: fix lines %q for an unverified posture", lang, r.Fix)
		}
		all := strings.Join(append(append(r.Inspect, r.Steps...), r.Summary), "\n")
		if strings.Contains(all, "$true") || strings.Contains(all, "-AllowBasicAuthImap ") || strings.Contains(all, "Set-") {
			t.Errorf("%s: remedy changes a setting:\n%s", lang, all)
		}
		if !strings.Contains(all, "password_file") || !strings.Contains(all, "alice@contoso.com") {
			t.Errorf("%s: remedy does not say how to prove it:\n%s", lang, all)
		}
		text := PostureUnverifiedText(CauseBasicAuthDisabled, lang)
		if !strings.Contains(text, string(CauseBasicAuthDisabled)) || text == PostureUnverifiedText(CauseTimeout, lang) {
			t.Errorf("%s: text %q does not explain a weak inference", lang, text)
		}
		// Any other cause keeps its own (local) remedy.
		if got, want := PostureUnverifiedRemedy(CauseSecretUnreadable, lang, vars).Summary, RemedyFor(CauseSecretUnreadable, lang, vars).Summary; got != want {
			t.Errorf("%s: secret_unreadable remedy changed: %q", lang, got)
		}
	}
}

// The tenant's settings outweigh a weak comparison: a policy that blocks
// Basic IMAP for the user turns the weak basic_auth_disabled into proof; a
// policy that allows it leaves nothing that proves the posture.
func TestPostureProofTenantSettings(t *testing.T) {
	atts := []probe.Attempt{basicAttempt(probe.IMAP, imap23), appAttempt(probe.IMAP, "")}
	atts[1].OK, atts[1].ErrorKind, atts[1].Stage = true, probe.ErrNone, probe.StageDone
	before := Classify(atts)
	if before[0].Cause != CauseBasicAuthDisabled || !before[0].Weak || PostureProof(before[0]) {
		t.Fatalf("without the tenant: %s weak=%v proof=%v", before[0].Cause, before[0].Weak, PostureProof(before[0]))
	}
	for _, tc := range []struct {
		policy string
		proves bool
	}{{"Block Basic Auth", true}, {"Allow Basic", false}} {
		s := baseSnapshot()
		s.Mailboxes[tUser].AuthenticationPolicy = ptr(tc.policy)
		got := ApplyTenant(atts, before, s)[0]
		if PostureProof(got) != tc.proves {
			t.Errorf("policy %q: %s %s weak=%v proof=%v, want %v\n%s", tc.policy, got.Cause, got.Confidence, got.Weak, PostureProof(got), tc.proves, strings.Join(got.Evidence, "\n"))
		}
	}
}

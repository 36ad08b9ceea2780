package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/probe"
)

// Faults on the probing side get local causes whose remedies name the file,
// key, flag or port to fix, never tenant PowerShell (issue 8 item 2).
func TestLocalCauses(t *testing.T) {
	cases := []struct {
		name string
		a    probe.Attempt
		want Cause
		// the remedy (en) must name these
		names []string
		// the evidence must not say this
		notEvidence string
	}{
		{"password file missing",
			probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: probe.StageAuth, ErrorKind: probe.ErrSecret,
				Error: "password: secret file: open /run/secrets/scanner: no such file or directory"},
			CauseSecretUnreadable, []string{"password_file", "--password-file", "password_env"}, ""},
		// The old verdict said "the token endpoint refused the token
		// request" though no request was made.
		{"client secret file missing",
			probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrSecret,
				Token: &probe.TokenInfo{}, Error: "client secret (file:/run/secrets/app): secret file: open /run/secrets/app: no such file or directory"},
			CauseSecretUnreadable, []string{"client_secret_file", "--client-secret-file"}, "token endpoint refused"},
		{"token endpoint unreachable",
			probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrDNS, Token: &probe.TokenInfo{Flow: "client_credentials"},
				Error: "Post \"https://login.microsoftonline.com/contoso/oauth2/v2.0/token\": dial tcp: lookup login.microsoftonline.com: no such host"},
			CauseTokenEndpointUnreachable, []string{"443", "login.microsoftonline.com", "authority:", "token_url:", "HTTPS_PROXY"}, "refused"},
		{"token endpoint timeout",
			probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageToken, ErrorKind: probe.ErrTimeout, Token: &probe.TokenInfo{Flow: "client_credentials"},
				Error: "context deadline exceeded"},
			CauseTokenEndpointUnreachable, []string{"443"}, ""},
		// Implicit TLS against a STARTTLS port: Go's crypto/tls reads the
		// "220 ..." greeting as a record header.
		{"implicit TLS on a STARTTLS port",
			probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.Basic, Server: "127.0.0.1:40587", Stage: probe.StageTLS, ErrorKind: probe.ErrTLS,
				Error: "tls: first record does not look like a TLS handshake"},
			CauseTLSModeMismatch, []string{"smtp_implicit_tls", "--smtp-implicit-tls", "587", "465"}, ""},
		{"implicit TLS on port 587",
			probe.Attempt{Protocol: probe.SMTP, Mechanism: probe.Basic, Server: "smtp.office365.com:587", Stage: probe.StageTLS, ErrorKind: probe.ErrTLS,
				Error: "remote error: tls: handshake failure"},
			CauseTLSModeMismatch, nil, ""},
		// STARTTLS against 993: the client waits for a plain-text
		// greeting, the server for a ClientHello. The old remedy advised a
		// longer timeout.
		{"STARTTLS on an implicit-TLS port",
			probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.Basic, Server: "outlook.office365.com:993", Stage: probe.StageGreeting, ErrorKind: probe.ErrTimeout,
				Timings: []probe.StageTiming{{Stage: probe.StageDNS}, {Stage: probe.StageConnect}, {Stage: probe.StageGreeting, Duration: 30 * time.Second}},
				Error:   "greeting: no answer within the attempt's deadline"},
			CauseTLSModeMismatch, []string{"imap_starttls", "--imap-starttls", "993"}, "longer timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := Classify([]probe.Attempt{tc.a})[0]
			if f.Cause != tc.want {
				t.Fatalf("cause %s, want %s; evidence %q", f.Cause, tc.want, f.Evidence)
			}
			if !Generic(f.Cause) {
				t.Errorf("%s is not generic: a local fault happens against any server", f.Cause)
			}
			if ProvesPosture(f.Cause) {
				t.Errorf("%s proves a posture", f.Cause)
			}
			ev := strings.Join(f.Evidence, "\n")
			if tc.notEvidence != "" && strings.Contains(ev, tc.notEvidence) {
				t.Errorf("evidence says %q:\n%s", tc.notEvidence, ev)
			}
			for _, lang := range []string{"en", "ja"} {
				r := RemedyFor(f.Cause, lang, Vars{Mailbox: "scanner@contoso.com", Protocol: string(tc.a.Protocol)})
				if len(r.Fix) != 0 || len(r.Inspect) != 0 {
					t.Errorf("%s: a local cause with tenant PowerShell: inspect %q fix %q", lang, r.Inspect, r.Fix)
				}
				text := r.Summary + "\n" + strings.Join(r.Steps, "\n")
				for _, ps := range []string{"Set-", "Get-", "Update-Mg", "Connect-ExchangeOnline"} {
					if strings.Contains(text, ps) {
						t.Errorf("%s: remedy mentions %s:\n%s", lang, ps, text)
					}
				}
				if lang == "en" {
					for _, n := range tc.names {
						if !strings.Contains(text, n) {
							t.Errorf("remedy does not name %q:\n%s", n, text)
						}
					}
				}
			}
		})
	}
	// A silent server on an ordinary port stays a timeout: only the
	// implicit-TLS port makes the mismatch likely enough to name.
	a := probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.Basic, Server: "127.0.0.1:40143", Stage: probe.StageGreeting, ErrorKind: probe.ErrTimeout}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause != CauseTimeout {
		t.Errorf("silent server: %s", f.Cause)
	}
	// Implicit TLS that got past the handshake and then timed out at the
	// greeting is not a mode mismatch.
	a = probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.Basic, Server: "outlook.office365.com:993", Stage: probe.StageGreeting, ErrorKind: probe.ErrTimeout,
		Timings: []probe.StageTiming{{Stage: probe.StageConnect}, {Stage: probe.StageTLS}, {Stage: probe.StageGreeting}}}
	if f := Classify([]probe.Attempt{a})[0]; f.Cause != CauseTimeout {
		t.Errorf("TLS done, greeting late: %s", f.Cause)
	}
}

// Inference order (issue 8 item 5): explicit words from any attempt of the
// same target beat weaker comparisons.
func TestInferenceOrder(t *testing.T) {
	// Security defaults on, IMAP Basic not retired: IMAP answers its
	// generic "LOGIN failed." while XOAUTH2 works; SMTP names security
	// defaults in words. The comparison alone said basic_auth_disabled.
	s8 := "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator."
	all := []probe.Attempt{
		basic(probe.IMAP, "a1 NO LOGIN failed."),
		ok(probe.IMAP, probe.XOAUTH2),
		basic(probe.POP, "-ERR Logon failure: unknown user name or bad password."),
		ok(probe.POP, probe.XOAUTH2),
		basic(probe.SMTP, s8),
	}
	fs := Classify(all)
	for _, i := range []int{0, 2, 4} {
		if fs[i].Cause != CauseSecurityDefaults {
			t.Errorf("%s/%s: %s, want security_defaults; evidence %q", fs[i].Protocol, fs[i].Mechanism, fs[i].Cause, fs[i].Evidence)
		}
	}
	// Without SMTP's words the comparison still decides.
	if f := Classify(all[:4]); f[0].Cause != CauseBasicAuthDisabled || f[2].Cause != CauseBasicAuthDisabled {
		t.Errorf("without SMTP: %s, %s", f[0].Cause, f[2].Cause)
	}

	// IMAP off for the mailbox, app-only token: IMAP gets in and is not
	// connected (I6) while the same token opens the mailbox over POP, which
	// needs the same permission. The app is fine; IMAP is off.
	tok := &probe.TokenInfo{Flow: "client_credentials", AppID: "app-1", Audience: "https://outlook.office365.com", TenantID: "tid", Roles: []string{"IMAP.AccessAsApp", "POP.AccessAsApp"}, ExpiresAt: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)}
	imap := xo(probe.IMAP, "a2 BAD User is authenticated but not connected.", tok)
	imap.AuthReply = "a1 OK AUTHENTICATE completed."
	pop := ok(probe.POP, probe.XOAUTH2)
	pop.Token = tok
	smtp := ok(probe.SMTP, probe.XOAUTH2) // found first: SMTP needs another permission
	smtp.Token = tok
	f := Classify([]probe.Attempt{smtp, imap, pop})[1]
	if f.Cause != CauseProtocolDisabled || !strings.Contains(strings.Join(RemedyFor(f.Cause, "en", Vars{Protocol: "imap", Mailbox: "alice@contoso.com"}).Fix, "\n"), "Set-CasMailbox alice@contoso.com -ImapEnabled $true") {
		t.Errorf("app token, POP works: %s; evidence %q", f.Cause, f.Evidence)
	}
	// Alone, the app token's permission stays the likelier cause.
	if f := Classify([]probe.Attempt{imap})[0]; f.Cause != CauseOAuthNotAuthorized {
		t.Errorf("app token alone: %s", f.Cause)
	}
}

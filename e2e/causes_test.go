package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/sim"
)

// creds says which credentials a case gives check besides --user.
type creds int

const (
	credApp         creds = iota // the user's password + the demo app's client secret
	credROPC                     // the user's password, and a token from the password grant (--ropc)
	credWrongSecret              // the user's password + a wrong client secret
	credGraphToken               // the user's password + a Microsoft Graph token (--token-file)
	credWrongPass                // a wrong password only
)

// causeCase is one emulator state and the causes check must name in it.
type causeCase struct {
	name string
	// serial cases change tenant-wide state (or the demo mailbox): they run
	// one at a time after the parallel ones, and undo their change.
	serial          bool
	setup, teardown []string
	user            string // local part; "" is demo
	creds           creds
	protocols       string
	mechanisms      string
	extra           func(t *testing.T, s *sim.Sim) []string // more flags (addresses, CA, timeout)
	want            map[string]string                       // "protocol/mechanism" -> cause
}

// causeCases reproduce every cause of the catalog that the emulator can
// produce. Not here, and why:
//   - auth_mechanism_unsupported: the probe never sends AUTH PLAIN to SMTP
//     (Exchange offers LOGIN and XOAUTH2 only), so the emulator's 504 cannot
//     be provoked through check; `diagnose` covers the S17 text.
//   - unknown: not a state; the Dovecot test and POP XOAUTH2 of a delegated
//     token on a mailbox with POP off (P6 is ambiguous) show it.
func causeCases() []causeCase {
	return []causeCase{
		{name: "smtp_auth_disabled_mailbox/nosmtp", user: "nosmtp", protocols: "smtp",
			want: map[string]string{"smtp/basic": "smtp_auth_disabled_mailbox", "smtp/xoauth2": "smtp_auth_disabled_mailbox"}},
		{name: "basic_auth_disabled/policy", user: "scanner", protocols: "smtp",
			setup: []string{
				`New-AuthenticationPolicy -Name "Block SMTP Basic"`,
				`Set-User -Identity scanner@contoso.com -AuthenticationPolicy "Block SMTP Basic"`,
				`Set-User -Identity scanner@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)`,
			},
			want: map[string]string{"smtp/basic": "basic_auth_disabled", "smtp/xoauth2": "ok"}},
		{name: "basic_auth_disabled/org-default-policy", user: "shared", protocols: "smtp", mechanisms: "basic",
			want: map[string]string{"smtp/basic": "basic_auth_disabled"}},
		{name: "basic_auth_disabled/imap-pop-era-2026", protocols: "imap,pop",
			want: map[string]string{"imap/basic": "basic_auth_disabled", "pop/basic": "basic_auth_disabled", "imap/xoauth2": "ok", "pop/xoauth2": "ok"}},
		{name: "conditional_access/blocked", user: "blocked", protocols: "smtp", mechanisms: "basic",
			want: map[string]string{"smtp/basic": "conditional_access"}},
		{name: "conditional_access/blocked-ropc", user: "blocked", creds: credROPC, protocols: "smtp",
			want: map[string]string{"smtp/basic": "conditional_access", "smtp/xoauth2": "conditional_access"}},
		{name: "mfa_required/mfa-ropc", user: "mfa", creds: credROPC, protocols: "smtp",
			want: map[string]string{"smtp/basic": "mfa_required", "smtp/xoauth2": "mfa_required"}},
		{name: "account_locked", user: "locked", protocols: "smtp",
			want: map[string]string{"smtp/basic": "account_locked", "smtp/xoauth2": "ok"}},
		{name: "account_disabled", user: "disabled", protocols: "smtp", creds: credROPC,
			want: map[string]string{"smtp/basic": "account_disabled", "smtp/xoauth2": "account_disabled"}},
		{name: "bad_credentials", user: "noimap", creds: credWrongPass, protocols: "smtp",
			want: map[string]string{"smtp/basic": "bad_credentials"}},
		{name: "oauth_not_authorized/remove-mailbox-permission", user: "scanner", protocols: "imap", mechanisms: "xoauth2",
			setup: []string{`Remove-MailboxPermission -Identity scanner@contoso.com -User ` + tenantDemoAppObjectID + ` -AccessRights FullAccess -Confirm:$false`},
			want:  map[string]string{"imap/xoauth2": "oauth_not_authorized"}},
		{name: "oauth_token_invalid/graph-audience", creds: credGraphToken, mechanisms: "xoauth2",
			want: map[string]string{"imap/xoauth2": "oauth_token_invalid", "pop/xoauth2": "oauth_token_invalid", "smtp/xoauth2": "oauth_token_invalid"}},
		{name: "token_request_failed/wrong-secret", creds: credWrongSecret, mechanisms: "xoauth2",
			want: map[string]string{"imap/xoauth2": "token_request_failed", "pop/xoauth2": "token_request_failed", "smtp/xoauth2": "token_request_failed"}},
		{name: "protocol_disabled/noimap-imap", user: "noimap", creds: credROPC, protocols: "imap", mechanisms: "xoauth2",
			want: map[string]string{"imap/xoauth2": "protocol_disabled"}},
		{name: "network_error/closed-port", protocols: "imap,pop,smtp",
			extra: func(t *testing.T, s *sim.Sim) []string {
				a := closedAddr(t)
				return []string{"--imap-addr", a, "--pop-addr", a, "--smtp-addr", a}
			},
			want: map[string]string{"imap/basic": "network_error", "pop/xoauth2": "network_error", "smtp/basic": "network_error", "smtp/xoauth2": "network_error"}},
		{name: "tls_error/wrong-ca", protocols: "imap,pop,smtp",
			extra: func(t *testing.T, s *sim.Sim) []string { return []string{"--ca-file", otherCA(t)} },
			want:  map[string]string{"imap/basic": "tls_error", "imap/xoauth2": "tls_error", "pop/basic": "tls_error", "smtp/basic": "tls_error", "smtp/xoauth2": "tls_error"}},
		{name: "timeout/silent-server", protocols: "imap,pop,smtp", mechanisms: "basic",
			extra: func(t *testing.T, s *sim.Sim) []string {
				a := testenv.SilentServer(t)
				return []string{"--imap-addr", a, "--pop-addr", a, "--smtp-addr", a, "--timeout", "2s"}
			},
			want: map[string]string{"imap/basic": "timeout", "pop/basic": "timeout", "smtp/basic": "timeout"}},

		// Faults on the probing side: local causes (issue 8 item 2). check
		// refuses a missing file up front (exit 2); a directory where the
		// file should be (a Secret volume mounted at the file's path)
		// passes that and fails when read, at the attempt.
		{name: "secret_unreadable/password-file", protocols: "imap,smtp", mechanisms: "basic",
			extra: func(t *testing.T, s *sim.Sim) []string {
				return []string{"--password-file", t.TempDir()}
			},
			want: map[string]string{"imap/basic": "secret_unreadable", "smtp/basic": "secret_unreadable"}},
		{name: "tls_mode_mismatch/implicit-tls-on-starttls-port", protocols: "smtp", mechanisms: "basic",
			extra: func(t *testing.T, s *sim.Sim) []string {
				return []string{"--smtp-implicit-tls", "--smtp-addr", s.Endpoints().SMTP.StartTLS}
			},
			want: map[string]string{"smtp/basic": "tls_mode_mismatch"}},
		{name: "token_endpoint_unreachable/closed-port", protocols: "imap", mechanisms: "xoauth2",
			extra: func(t *testing.T, s *sim.Sim) []string {
				return []string{"--authority", "https://" + closedAddr(t) + "/contoso.onmicrosoft.com"}
			},
			want: map[string]string{"imap/xoauth2": "token_endpoint_unreachable"}},

		// Tenant-wide (or demo-mailbox) states, one at a time.
		{name: "smtp_auth_disabled_tenant", serial: true, protocols: "smtp",
			setup:    []string{`Set-TransportConfig -SmtpClientAuthenticationDisabled $True`},
			teardown: []string{`Set-TransportConfig -SmtpClientAuthenticationDisabled $False`},
			want:     map[string]string{"smtp/basic": "smtp_auth_disabled_tenant", "smtp/xoauth2": "smtp_auth_disabled_tenant"}},
		{name: "security_defaults", serial: true, protocols: "smtp",
			setup:    []string{`Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true`},
			teardown: []string{`Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false`},
			want:     map[string]string{"smtp/basic": "security_defaults", "smtp/xoauth2": "ok"}},
		{name: "oauth_not_authorized/app-without-roles", serial: true, mechanisms: "xoauth2",
			setup:    []string{`Set-SimApp -AppId ` + tenantDemoAppID + ` -RemoveRole IMAP.AccessAsApp,POP.AccessAsApp,SMTP.SendAsApp`},
			teardown: []string{`Set-SimApp -AppId ` + tenantDemoAppID + ` -AddRole IMAP.AccessAsApp,POP.AccessAsApp,SMTP.SendAsApp`},
			want:     map[string]string{"imap/xoauth2": "oauth_not_authorized", "pop/xoauth2": "oauth_not_authorized", "smtp/xoauth2": "oauth_not_authorized"}},
		// IMAP is left out: a throttled login gets Exchange's generic
		// "NO AUTHENTICATE failed." (exo-responses §5a.1), which alone
		// cannot name throttling.
		{name: "throttled", serial: true, protocols: "pop,smtp",
			setup:    []string{`Set-SimUser -Identity demo@contoso.com -Throttled:$true`},
			teardown: []string{`Set-SimUser -Identity demo@contoso.com -Throttled:$false`},
			want:     map[string]string{"pop/xoauth2": "throttled", "smtp/basic": "throttled", "smtp/xoauth2": "throttled"}},
		// S14 (550 5.7.30) is only announced, so the emulator gives it
		// behind an emulator-only knob, off by default.
		{name: "basic_auth_retired/smtp", serial: true, protocols: "smtp",
			setup:    []string{`Set-SimTenant -BasicAuthRetiredSmtp:$true`},
			teardown: []string{`Set-SimTenant -BasicAuthRetiredSmtp:$false`},
			want:     map[string]string{"smtp/basic": "basic_auth_retired", "smtp/xoauth2": "ok"}},
		// Inference order (issue 8): IMAP/POP Basic get their generic
		// 2023 words while XOAUTH2 works; SMTP names security defaults in
		// words, and those words win over the comparison.
		{name: "security_defaults/imap-pop-era-2023", serial: true, protocols: "imap,pop,smtp",
			setup:    []string{`Set-SimTenant -Era 2023 -BasicAuthRetiredImapPop:$false`, `Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$true`},
			teardown: []string{`Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false`, `Set-SimTenant -Era 2026 -BasicAuthRetiredImapPop:$true`},
			want: map[string]string{"imap/basic": "security_defaults", "pop/basic": "security_defaults", "smtp/basic": "security_defaults",
				"imap/xoauth2": "ok", "pop/xoauth2": "ok", "smtp/xoauth2": "ok"}},
		// IMAP off with an application token: the same token opens the
		// mailbox over POP, so the app's permission is fine (issue 8: was
		// oauth_not_authorized, whose fix does not help).
		{name: "protocol_disabled/app-token", serial: true, protocols: "imap,pop", mechanisms: "xoauth2",
			setup:    []string{`Set-CasMailbox demo@contoso.com -ImapEnabled $false`},
			teardown: []string{`Set-CasMailbox demo@contoso.com -ImapEnabled $true`},
			want:     map[string]string{"imap/xoauth2": "protocol_disabled", "pop/xoauth2": "ok"}},
		// 2023 texts are generic (I2, P3): Basic vs XOAUTH2 on the same
		// mailbox decides.
		{name: "basic_auth_disabled/imap-pop-era-2023", serial: true, protocols: "imap,pop",
			setup:    []string{`Set-SimTenant -Era 2023 -BasicAuthRetiredImapPop:$false`},
			teardown: []string{`Set-SimTenant -Era 2026 -BasicAuthRetiredImapPop:$true`},
			want:     map[string]string{"imap/basic": "basic_auth_disabled", "pop/basic": "basic_auth_disabled", "imap/xoauth2": "ok", "pop/xoauth2": "ok"}},
	}
}

// The demo tenant's fixed ids (sim/tenant/demo.go), as an admin would type
// them.
const (
	tenantDemoAppID       = "3c9e7a51-2b4d-4e8f-a6c0-91d2e3f4b5a6"
	tenantDemoAppObjectID = "b7e4d2c1-6a5f-4b3e-8d9c-0a1b2c3d4e5f"
)

// TestCheckNamesEveryCause puts the emulator in each state and asserts the
// cause `check --output json` names for each protocol × mechanism.
func TestCheckNamesEveryCause(t *testing.T) {
	s, ep := startSim(t)
	cases := causeCases()
	t.Run("parallel", func(t *testing.T) {
		for _, c := range cases {
			if c.serial {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				runCauseCase(t, s, ep, c)
			})
		}
	})
	for _, c := range cases {
		if c.serial {
			t.Run(c.name, func(t *testing.T) { runCauseCase(t, s, ep, c) })
		}
	}
}

func runCauseCase(t *testing.T, s *sim.Sim, ep string, c causeCase) {
	if len(c.setup) > 0 {
		simExec(t, ep, c.setup...)
	}
	if len(c.teardown) > 0 {
		t.Cleanup(func() { simExec(t, ep, c.teardown...) })
	}
	args := []string{"check", "--endpoints", ep, "--output", "json"}
	args = append(args, credArgs(t, s, c.user, c.creds)...)
	if c.protocols != "" {
		args = append(args, "--protocols", c.protocols)
	}
	if c.mechanisms != "" {
		args = append(args, "--mechanisms", c.mechanisms)
	}
	if c.extra != nil {
		args = append(args, c.extra(t, s)...)
	}
	r := run(t, "", args...)
	d := parseCheck(t, r)
	allOK := true
	for _, a := range d.Attempts {
		allOK = allOK && *a.OK
	}
	if want := map[bool]int{true: 0, false: 1}[allOK]; r.code != want {
		t.Errorf("exit %d, want %d", r.code, want)
	}
	for pm, want := range c.want {
		proto, mech, _ := strings.Cut(pm, "/")
		a := d.attempt(t, proto, mech)
		if *a.Cause != want {
			t.Errorf("%s: cause %s, want %s\n  %s", pm, *a.Cause, want, a)
			continue
		}
		if want == "ok" {
			if !*a.OK {
				t.Errorf("%s: cause ok but ok=false", pm)
			}
			continue
		}
		if *a.OK {
			t.Errorf("%s: ok=true with cause %s", pm, want)
		}
		f := d.finding(proto, mech)
		if f == nil || *f.Cause != want || len(f.Evidence) == 0 || *f.Remedy.Summary == "" {
			t.Errorf("%s: no finding with cause %s, evidence and a remedy: %+v", pm, want, f)
		}
	}
}

// credArgs gives check the credentials of a case.
func credArgs(t *testing.T, s *sim.Sim, local string, c creds) []string {
	t.Helper()
	e := s.Endpoints()
	upn := e.Demo.User
	if local != "" {
		upn = local + "@contoso.com"
	}
	var password string
	for _, u := range e.Users {
		if strings.EqualFold(u.UPN, upn) {
			password = u.Password
		}
	}
	if password == "" {
		t.Fatalf("no user %s in the demo tenant", upn)
	}
	args := []string{"--user", upn, "--password-file", secretFile(t, "password", password)}
	switch c {
	case credApp:
		args = append(args, "--client-id", e.Demo.ClientID, "--client-secret-file", secretFile(t, "client-secret", e.Demo.ClientSecret))
	case credROPC:
		args = append(args, "--client-id", e.Demo.ClientID, "--ropc")
	case credWrongSecret:
		args = append(args, "--client-id", e.Demo.ClientID, "--client-secret-file", secretFile(t, "client-secret", "not-the-secret-"+e.Demo.ClientSecret[:4]))
	case credGraphToken:
		args = append(args, "--token-file", secretFile(t, "token", graphToken(e, upn)))
	case credWrongPass:
		args = []string{"--user", upn, "--password-file", secretFile(t, "password", "wrong-"+password)}
	}
	return args
}

// graphToken is an app token for Microsoft Graph, not Exchange: the classic
// wrong-audience mistake. Its signature is junk; the probe reads the claims
// without verifying, and Exchange (the emulator) refuses it.
func graphToken(e sim.Endpoints, upn string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now()
	claims := map[string]any{
		"aud": "https://graph.microsoft.com", "iss": "https://sts.windows.net/" + e.TenantID + "/",
		"tid": e.TenantID, "appid": e.Demo.ClientID, "roles": []string{"Mail.Send"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + "." +
		base64.RawURLEncoding.EncodeToString([]byte("not-a-signature-of-anything-at-all"))
}

// closedAddr is a 127.0.0.1 port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// otherCA writes a CA certificate the emulator's certificates do not chain
// to.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not the emulator's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

package tenant

import (
	"testing"
	"time"
)

func TestAuthenticateBasic(t *testing.T) {
	allowAll := func(s *State) { s.SetPolicy(DemoPolicy, AllowAll, t0.Add(-time.Hour)) }
	notRetired := func(s *State) { s.BasicAuthRetiredImapPop = false }
	smtpRetired := func(s *State) { s.BasicAuthRetiredSmtp = true }
	cases := []struct {
		name   string
		mod    func(s *State)
		proto  Protocol
		user   string
		wrong  bool // send a wrong password
		want   Verdict
		failed int // FailedLogins of user afterwards (-1: don't check)
	}{
		{"healthy SMTP", nil, SMTP, "demo@contoso.com", false, VerdictOK, 0},
		{"alias domain", nil, SMTP, "demo@contoso.onmicrosoft.com", false, VerdictOK, 0},
		{"case-insensitive UPN", nil, SMTP, "Demo@Contoso.com", false, VerdictOK, 0},
		{"wrong password S10", nil, SMTP, "demo@contoso.com", true, VerdictBadCredentials, 1},
		{"unknown user", nil, SMTP, "nobody@contoso.com", false, VerdictBadCredentials, -1},
		{"foreign domain", nil, SMTP, "demo@fabrikam.com", false, VerdictBadCredentials, -1},
		{"IMAP retired I12", nil, IMAP, "demo@contoso.com", false, VerdictBasicDisabled, 0},
		{"POP retired P8", nil, POP, "demo@contoso.com", false, VerdictBasicDisabled, 0},
		{"retired before lookup: unknown user", nil, IMAP, "nobody@contoso.com", false, VerdictBasicDisabled, -1},
		{"retired: wrong password not counted", nil, POP, "demo@contoso.com", true, VerdictBasicDisabled, 0},
		{"retired in era 2023 too", func(s *State) { s.Era = Era2023 }, IMAP, "demo@contoso.com", false, VerdictBasicDisabled, 0},
		{"not retired, policy blocks IMAP", notRetired, IMAP, "demo@contoso.com", false, VerdictBasicDisabled, 0},
		{"not retired, policy allows IMAP", func(s *State) { notRetired(s); allowAll(s) }, IMAP, "demo@contoso.com", false, VerdictOK, 0},
		{"not retired, policy allows POP", func(s *State) { notRetired(s); allowAll(s) }, POP, "demo@contoso.com", false, VerdictOK, 0},
		{"IMAP disabled on mailbox", func(s *State) {
			notRetired(s)
			allowAll(s)
			s.FindUser("noimap@contoso.com").AuthenticationPolicy = DemoPolicy
		}, IMAP, "noimap@contoso.com", false, VerdictProtocolDisabled, 0},
		{"POP disabled on mailbox, wrong password", func(s *State) {
			notRetired(s)
			allowAll(s)
			s.FindUser("noimap@contoso.com").AuthenticationPolicy = DemoPolicy
		}, POP, "noimap@contoso.com", true, VerdictBadCredentials, 1},
		{"tenant SMTP off S4", func(s *State) { s.Transport.SmtpClientAuthenticationDisabled = true }, SMTP, "demo@contoso.com", false, VerdictSMTPDisabledTenant, 0},
		{"tenant SMTP off, wrong password still S4", func(s *State) { s.Transport.SmtpClientAuthenticationDisabled = true }, SMTP, "demo@contoso.com", true, VerdictSMTPDisabledTenant, 0},
		{"tenant off, mailbox $false overrides", func(s *State) {
			s.Transport.SmtpClientAuthenticationDisabled = true
			s.FindUser("demo@contoso.com").CAS.SmtpClientAuthenticationDisabled = ptr(false)
		}, SMTP, "demo@contoso.com", false, VerdictOK, 0},
		{"mailbox SMTP off S6", nil, SMTP, "nosmtp@contoso.com", false, VerdictSMTPDisabledMailbox, 0},
		{"mailbox off wins over tenant off", func(s *State) { s.Transport.SmtpClientAuthenticationDisabled = true }, SMTP, "nosmtp@contoso.com", false, VerdictSMTPDisabledMailbox, 0},
		{"default policy blocks SMTP S9", nil, SMTP, "shared@contoso.com", false, VerdictBasicDisabled, 0},
		{"policy block: wrong password not counted", nil, SMTP, "shared@contoso.com", true, VerdictBasicDisabled, 0},
		{"no policy at all", func(s *State) { s.DefaultAuthenticationPolicy = "" }, SMTP, "shared@contoso.com", false, VerdictOK, 0},
		{"removed policy protects nobody", func(s *State) { s.Policies = s.Policies[1:] }, SMTP, "shared@contoso.com", false, VerdictOK, 0},
		{"locked S12", func(s *State) { s.FindUser("locked@contoso.com").AuthenticationPolicy = DemoPolicy }, SMTP, "locked@contoso.com", false, VerdictAccountLocked, 10},
		{"disabled S13", func(s *State) { s.FindUser("disabled@contoso.com").AuthenticationPolicy = DemoPolicy }, SMTP, "disabled@contoso.com", false, VerdictAccountDisabled, 0},
		{"disabled, wrong password", func(s *State) { s.FindUser("disabled@contoso.com").AuthenticationPolicy = DemoPolicy }, SMTP, "disabled@contoso.com", true, VerdictAccountDisabled, 0},
		{"security defaults S8", func(s *State) { s.SecurityDefaults = true }, SMTP, "demo@contoso.com", false, VerdictSecurityDefaults, 0},
		{"security defaults, wrong password", func(s *State) { s.SecurityDefaults = true }, SMTP, "demo@contoso.com", true, VerdictBadCredentials, 1},
		{"MFA S11", func(s *State) { s.FindUser("mfa@contoso.com").AuthenticationPolicy = DemoPolicy }, SMTP, "mfa@contoso.com", false, VerdictCriteriaNotMet, 0},
		{"CA S11", func(s *State) { s.FindUser("blocked@contoso.com").AuthenticationPolicy = DemoPolicy }, SMTP, "blocked@contoso.com", false, VerdictCriteriaNotMet, 0},
		{"throttled", func(s *State) { _ = s.SetThrottled("demo@contoso.com", true) }, IMAP, "demo@contoso.com", false, VerdictThrottled, 0},
		{"SMTP Basic retired S14", smtpRetired, SMTP, "demo@contoso.com", false, VerdictBasicRetired, 0},
		{"SMTP retired: wrong password not counted", smtpRetired, SMTP, "demo@contoso.com", true, VerdictBasicRetired, 0},
		{"SMTP retired wins over security defaults", func(s *State) { smtpRetired(s); s.SecurityDefaults = true }, SMTP, "demo@contoso.com", false, VerdictBasicRetired, 0},
		{"SMTP retired wins over an allowing policy", func(s *State) { smtpRetired(s); allowAll(s) }, SMTP, "demo@contoso.com", false, VerdictBasicRetired, 0},
		{"SMTP retired wins over a blocking policy", smtpRetired, SMTP, "shared@contoso.com", false, VerdictBasicRetired, 0},
		{"SMTP retired: locked account not reached", func(s *State) { smtpRetired(s); s.FindUser("locked@contoso.com").AuthenticationPolicy = DemoPolicy }, SMTP, "locked@contoso.com", false, VerdictBasicRetired, -1},
		{"tenant SMTP off wins over SMTP retired", func(s *State) { smtpRetired(s); s.Transport.SmtpClientAuthenticationDisabled = true }, SMTP, "demo@contoso.com", false, VerdictSMTPDisabledTenant, 0},
		{"mailbox SMTP off wins over SMTP retired", smtpRetired, SMTP, "nosmtp@contoso.com", false, VerdictSMTPDisabledMailbox, 0},
		{"SMTP retired: unknown user S10", smtpRetired, SMTP, "nobody@contoso.com", false, VerdictBadCredentials, -1},
		{"SMTP retired leaves IMAP alone", func(s *State) { smtpRetired(s); notRetired(s); allowAll(s) }, IMAP, "demo@contoso.com", false, VerdictOK, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, s, _ := newDemoTenant(t)
			if c.mod != nil {
				c.mod(s)
			}
			p := "wrong-" + c.name
			if u := s.FindMailbox(c.user); u != nil && !c.wrong {
				p = u.Password
			}
			if got := tn.AuthenticateBasic(c.proto, c.user, p); got != c.want {
				t.Fatalf("AuthenticateBasic(%s, %s) = %s, want %s", c.proto, c.user, got, c.want)
			}
			if u := s.FindMailbox(c.user); u != nil && c.failed >= 0 && u.FailedLogins != c.failed {
				t.Errorf("FailedLogins = %d, want %d", u.FailedLogins, c.failed)
			}
		})
	}
}

func TestSmartLockout(t *testing.T) {
	tn, s, _ := newDemoTenant(t)
	const u = "demo@contoso.com"
	good := pw(s, u)
	for i := 1; i <= 9; i++ {
		if v := tn.AuthenticateBasic(SMTP, u, "nope"); v != VerdictBadCredentials {
			t.Fatalf("attempt %d: %s", i, v)
		}
	}
	// A good password resets the count.
	if v := tn.AuthenticateBasic(SMTP, u, good); v != VerdictOK {
		t.Fatalf("good password after 9 failures: %s", v)
	}
	for i := 1; i <= 10; i++ {
		tn.AuthenticateBasic(SMTP, u, "nope")
	}
	if !s.FindUser(u).Locked {
		t.Fatal("not locked after 10 bad passwords")
	}
	if v := tn.AuthenticateBasic(SMTP, u, good); v != VerdictAccountLocked {
		t.Fatalf("good password on locked account: %s", v)
	}
	if err := s.LockUser(u, false); err != nil {
		t.Fatal(err)
	}
	if v := tn.AuthenticateBasic(SMTP, u, good); v != VerdictOK {
		t.Fatalf("after unlock: %s", v)
	}
}

func TestEraAndCapabilityHelpers(t *testing.T) {
	tn, s, _ := newDemoTenant(t)
	if tn.Era() != Era2026 || tn.AdvertisePlain(IMAP) || !tn.AdvertisePlain(POP) || !tn.AdvertisePlain(SMTP) {
		t.Fatal("2026: IMAP must advertise LOGINDISABLED, POP/SMTP keep their password mechanisms")
	}
	if tn.BasicAllowed(IMAP) || tn.BasicAllowed(POP) || !tn.BasicAllowed(SMTP) {
		t.Fatal("retired: Basic IMAP/POP never allowed, SMTP may be")
	}
	s.BasicAuthRetiredSmtp = true
	if tn.BasicAllowed(SMTP) {
		t.Fatal("SMTP retired: Basic SMTP never allowed")
	}
	s.BasicAuthRetiredSmtp = false
	if err := s.SetEra(Era2023); err != nil {
		t.Fatal(err)
	}
	s.BasicAuthRetiredImapPop = false
	if tn.Era() != Era2023 || !tn.AdvertisePlain(IMAP) || !tn.BasicAllowed(IMAP) {
		t.Fatal("2023: IMAP advertises AUTH=PLAIN")
	}
	if s.SetEra("1999") == nil {
		t.Fatal("unknown era accepted")
	}
	s.Era = ""
	if tn.Era() != DefaultEra {
		t.Fatal("empty era is not the default")
	}
}

// TestDemoTenantMatrix pins what each demo user shows with Basic SMTP and
// with the demo app's XOAUTH2 token on IMAP: the cases the demo exists for.
func TestDemoTenantMatrix(t *testing.T) {
	tn, s, _ := newDemoTenant(t)
	tok, err := tn.IssueAppToken(DemoAppID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user       string
		basicSMTP  Verdict
		bearerIMAP Verdict
	}{
		{"demo", VerdictOK, VerdictOK},
		{"scanner", VerdictOK, VerdictOK},
		{"nosmtp", VerdictSMTPDisabledMailbox, VerdictOK},
		{"locked", VerdictAccountLocked, VerdictNotConnected},
		{"disabled", VerdictAccountDisabled, VerdictNotConnected},
		{"mfa", VerdictCriteriaNotMet, VerdictNotConnected},
		{"blocked", VerdictCriteriaNotMet, VerdictNotConnected},
		{"noimap", VerdictOK, VerdictNotConnected},
		{"shared", VerdictBasicDisabled, VerdictNotConnected},
	} {
		upn := c.user + "@contoso.com"
		if v := tn.AuthenticateBasic(SMTP, upn, pw(s, upn)); v != c.basicSMTP {
			t.Errorf("%s Basic SMTP: %s, want %s", upn, v, c.basicSMTP)
		}
		if v := tn.AuthenticateBearer(IMAP, upn, tok); v != c.bearerIMAP {
			t.Errorf("%s XOAUTH2 IMAP: %s, want %s", upn, v, c.bearerIMAP)
		}
	}
}

package tenant

import (
	"strings"
	"testing"
	"time"
)

// tokenFn builds a token against the state at the fake time.
type tokenFn func(t *testing.T, s *State) string

func appTok(aud string, mod func(c *Claims)) tokenFn {
	return func(t *testing.T, s *State) string {
		a := s.FindApp(DemoAppID)
		c := s.baseClaims(aud, t0)
		c.AppID, c.IDTyp, c.OID, c.Sub, c.Roles = a.AppID, "app", a.EnterpriseObjectID, a.EnterpriseObjectID, a.Roles
		if mod != nil {
			mod(c)
		}
		tok, err := s.SignJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func userTok(upn string, mod func(c *Claims)) tokenFn {
	return func(t *testing.T, s *State) string {
		a, u := s.FindApp(DemoAppID), s.FindUser(upn)
		c := s.baseClaims(ResourceOutlook, t0)
		c.AppID, c.IDTyp, c.OID, c.Sub = a.AppID, "user", u.ObjectID, u.ObjectID
		c.UPN, c.Scp = u.UPN, "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send"
		if mod != nil {
			mod(c)
		}
		tok, err := s.SignJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func raw(tok string) tokenFn { return func(*testing.T, *State) string { return tok } }

func TestAuthenticateBearer(t *testing.T) {
	const demo = "demo@contoso.com"
	all := []Protocol{IMAP, POP, SMTP}
	cases := []struct {
		name   string
		mod    func(s *State)
		tok    tokenFn
		user   string
		protos []Protocol
		want   Verdict
	}{
		{"app token I4 P5 S2", nil, appTok(ResourceOutlook365, nil), demo, all, VerdictOK},
		{"app token aud outlook.office.com", nil, appTok(ResourceOutlook, nil), demo, all, VerdictOK},
		{"app token aud Exchange app id", nil, appTok(ResourceExchangeAppID, nil), demo, all, VerdictOK},
		{"app token via alias address", nil, appTok(ResourceOutlook365, nil), "demo@contoso.onmicrosoft.com", all, VerdictOK},
		{"v2 issuer accepted", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Iss = IssuerV2(DemoTenantID) }), demo, all, VerdictOK},
		{"Graph audience refused I5", nil, appTok(ResourceGraph, nil), demo, all, VerdictTokenRejected},
		{"ps.outlook.com refused", nil, appTok("https://ps.outlook.com", nil), demo, all, VerdictTokenRejected},
		{"expired", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Exp = t0.Add(-10 * time.Minute).Unix() }), demo, all, VerdictTokenRejected},
		{"not yet valid", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Nbf = t0.Add(time.Hour).Unix() }), demo, all, VerdictTokenRejected},
		{"other tenant id", nil, appTok(ResourceOutlook365, func(c *Claims) { c.TID = "11111111-2222-3333-4444-555555555555" }), demo, all, VerdictTokenRejected},
		{"foreign issuer", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Iss = "https://evil.example/" }), demo, all, VerdictTokenRejected},
		{"signed by another key", func(s *State) {
			s.SigningKey, s.signer = nil, nil
			if _, err := s.key(); err != nil {
				panic(err)
			}
		}, appTok(ResourceOutlook365, nil), demo, all, VerdictTokenRejected},
		{"garbage", nil, raw("not a token"), demo, all, VerdictTokenRejected},
		{"alg none", nil, raw("eyJhbGciOiJub25lIn0.eyJ0aWQiOiI4ZjNiMmMxYS01ZDRlLTRmNjAtOWE3Yi0wYzFkMmUzZjRhNWIifQ."), demo, all, VerdictTokenRejected},
		{"no roles (no consent)", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Roles = nil }), demo, all, VerdictTokenRejected},
		{"IMAP role only: SMTP refused", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Roles = []string{"IMAP.AccessAsApp"} }), demo, []Protocol{SMTP, POP}, VerdictTokenRejected},
		{"IMAP role only: IMAP ok", nil, appTok(ResourceOutlook365, func(c *Claims) { c.Roles = []string{"IMAP.AccessAsApp"} }), demo, []Protocol{IMAP}, VerdictOK},
		{"no service principal", func(s *State) { s.ServicePrincipals = nil }, appTok(ResourceOutlook365, nil), demo, all, VerdictTokenRejected},
		{"service principal with wrong ObjectId", func(s *State) { s.ServicePrincipals[0].ObjectID = DemoAppRegObjectID }, appTok(ResourceOutlook365, nil), demo, all, VerdictTokenRejected},
		{"no FullAccess I6", nil, appTok(ResourceOutlook365, nil), "shared@contoso.com", all, VerdictNotConnected},
		{"FullAccess granted by app id", func(s *State) {
			s.MailboxPermissions = append(s.MailboxPermissions, &MailboxPermission{Mailbox: "shared@contoso.com", User: DemoAppID, AccessRights: []string{"FullAccess"}})
		}, appTok(ResourceOutlook365, nil), "shared@contoso.com", all, VerdictOK},
		{"ReadPermission is not FullAccess", func(s *State) {
			s.MailboxPermissions = append(s.MailboxPermissions, &MailboxPermission{Mailbox: "shared@contoso.com", User: DemoAppObjectID, AccessRights: []string{"ReadPermission"}})
		}, appTok(ResourceOutlook365, nil), "shared@contoso.com", []Protocol{IMAP}, VerdictNotConnected},
		{"unknown mailbox", nil, appTok(ResourceOutlook365, nil), "nobody@contoso.com", all, VerdictTokenRejected},
		{"IMAP disabled on mailbox I6", nil, appTok(ResourceOutlook365, nil), "noimap@contoso.com", []Protocol{IMAP}, VerdictNotConnected},
		{"POP disabled on mailbox P6", nil, appTok(ResourceOutlook365, nil), "noimap@contoso.com", []Protocol{POP}, VerdictProtocolDisabled},
		{"IMAP/POP disabled, SMTP fine", nil, appTok(ResourceOutlook365, nil), "noimap@contoso.com", []Protocol{SMTP}, VerdictOK},
		{"tenant SMTP off blocks XOAUTH2 S5", func(s *State) { s.Transport.SmtpClientAuthenticationDisabled = true }, appTok(ResourceOutlook365, nil), demo, []Protocol{SMTP}, VerdictSMTPDisabledTenant},
		{"tenant SMTP off leaves IMAP", func(s *State) { s.Transport.SmtpClientAuthenticationDisabled = true }, appTok(ResourceOutlook365, nil), demo, []Protocol{IMAP, POP}, VerdictOK},
		{"mailbox SMTP off blocks XOAUTH2 S6", nil, appTok(ResourceOutlook365, nil), "nosmtp@contoso.com", []Protocol{SMTP}, VerdictSMTPDisabledMailbox},
		{"security defaults do not block OAuth", func(s *State) { s.SecurityDefaults = true }, appTok(ResourceOutlook365, nil), demo, all, VerdictOK},
		{"Basic retirement does not block OAuth", nil, userTok(demo, nil), demo, all, VerdictOK},
		{"SMTP Basic retirement does not block XOAUTH2", func(s *State) { s.BasicAuthRetiredSmtp = true }, appTok(ResourceOutlook365, nil), demo, all, VerdictOK},
		{"throttled", func(s *State) { _ = s.SetThrottled(demo, true) }, appTok(ResourceOutlook365, nil), demo, all, VerdictThrottled},
		{"delegated, scope missing", nil, userTok(demo, func(c *Claims) { c.Scp = "Mail.Read" }), demo, all, VerdictTokenRejected},
		{"delegated, IMAP scope only", nil, userTok(demo, func(c *Claims) { c.Scp = "IMAP.AccessAsUser.All" }), demo, []Protocol{POP, SMTP}, VerdictTokenRejected},
		{"delegated, SMTP.SendAsApp in scp", nil, userTok(demo, func(c *Claims) { c.Scp = "SMTP.SendAsApp" }), demo, []Protocol{SMTP}, VerdictOK},
		{"delegated, other user's mailbox IMAP I6", nil, userTok("scanner@contoso.com", nil), demo, []Protocol{IMAP, POP}, VerdictNotConnected},
		{"delegated, other user's mailbox SMTP S15", nil, userTok("scanner@contoso.com", nil), demo, []Protocol{SMTP}, VerdictTokenRejected},
		{"delegated, shared mailbox with FullAccess", func(s *State) {
			s.MailboxPermissions = append(s.MailboxPermissions, &MailboxPermission{Mailbox: "shared@contoso.com", User: "scanner@contoso.com", AccessRights: []string{"FullAccess"}})
		}, userTok("scanner@contoso.com", nil), "shared@contoso.com", all, VerdictOK},
		{"delegated, token user unknown", nil, userTok(demo, func(c *Claims) { c.UPN = "ghost@contoso.com" }), demo, all, VerdictTokenRejected},
		{"delegated, IMAP disabled", nil, userTok("noimap@contoso.com", nil), "noimap@contoso.com", []Protocol{IMAP}, VerdictNotConnected},
		{"delegated, tenant SMTP off", func(s *State) { s.Transport.SmtpClientAuthenticationDisabled = true }, userTok(demo, nil), demo, []Protocol{SMTP}, VerdictSMTPDisabledTenant},
		{"locked user's token still valid", nil, userTok("locked@contoso.com", nil), "locked@contoso.com", all, VerdictOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, s, _ := newDemoTenant(t)
			tok := c.tok(t, s)
			if c.mod != nil { // after signing: mods change the tenant, not the token
				c.mod(s)
			}
			for _, p := range c.protos {
				if got := tn.AuthenticateBearer(p, c.user, tok); got != c.want {
					t.Errorf("AuthenticateBearer(%s, %s) = %s, want %s", p, c.user, got, c.want)
				}
			}
		})
	}
}

func TestIssueTokensForOtherPackages(t *testing.T) {
	tn, s, clk := newDemoTenant(t)
	at, err := tn.IssueAppToken(DemoAppID)
	if err != nil {
		t.Fatal(err)
	}
	ut, err := tn.IssueUserToken(DemoAppID, DemoUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Protocol{IMAP, POP, SMTP} {
		if v := tn.AuthenticateBearer(p, DemoUser, at); v != VerdictOK {
			t.Errorf("app token %s: %s", p, v)
		}
		if v := tn.AuthenticateBearer(p, DemoUser, ut); v != VerdictOK {
			t.Errorf("user token %s: %s", p, v)
		}
	}
	c, err := s.VerifyAccessToken(ut, clk.Now())
	if err != nil || c.UPN != DemoUser || c.PreferredUsername != DemoUser || c.Iss != IssuerV1(DemoTenantID) || c.Ver != "1.0" {
		t.Fatalf("claims %+v, err %v", c, err)
	}
	clk.Advance(AccessTokenLifetime + clockSkew)
	if v := tn.AuthenticateBearer(IMAP, DemoUser, at); v != VerdictTokenRejected {
		t.Fatalf("token after its lifetime: %s", v)
	}
	if _, err := tn.IssueAppToken("nope"); err == nil {
		t.Fatal("unknown app accepted")
	}
	if _, err := tn.IssueUserToken(DemoAppID, "ghost@contoso.com"); err == nil || strings.Contains(err.Error(), pw(s, DemoUser)) {
		t.Fatalf("unknown user: %v", err)
	}
}

func FuzzAuthenticateBearer(f *testing.F) {
	s := freshDemo(f)
	tn := New(s)
	tn.Now = func() time.Time { return t0 }
	good, err := s.MintAppToken(s.FindApp(DemoAppID), ResourceOutlook365, "1", t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(DemoUser, good)
	f.Add(DemoUser, "")
	f.Add("", "...")
	f.Add(DemoUser, "e30.e30.e30")
	f.Add(DemoUser, "eyJhbGciOiJSUzI1NiJ9.bnVsbA.AAAA")
	f.Add("a@b@c", strings.Repeat("A.", 1000))
	f.Fuzz(func(t *testing.T, user, tok string) {
		v := tn.AuthenticateBearer(IMAP, user, tok)
		if tok != good && v == VerdictOK && !strings.EqualFold(user, DemoUser) && !strings.EqualFold(user, "demo@contoso.onmicrosoft.com") {
			t.Fatalf("accepted %q for %q", tok, user)
		}
		_ = tn.AuthenticateBearer(SMTP, user, tok)
		_ = tn.AuthenticateBasic(POP, user, tok)
	})
}

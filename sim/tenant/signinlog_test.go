package tenant

import (
	"path/filepath"
	"testing"
	"time"
)

func TestSignInVisibilityDelayAndRetention(t *testing.T) {
	tn, s, clk := newDemoTenant(t)
	tn.AuthenticateBasicFrom(SMTP, "demo@contoso.com", pw(s, "demo@contoso.com"), "203.0.113.9")
	visible := func() int {
		var n int
		tn.View(func(s *State) { n = len(s.VisibleSignIns(clk.now)) })
		return n
	}
	// tenant-api.md §5.8: 2 minutes by default.
	clk.Advance(DefaultSignInLogDelay - time.Second)
	if n := visible(); n != 0 {
		t.Fatalf("visible before the delay: %d", n)
	}
	clk.Advance(time.Second)
	if n := visible(); n != 1 {
		t.Fatalf("visible after the delay: %d, want 1", n)
	}
	// §5.1: 30 days of retention with P1/P2.
	clk.Advance(30*24*time.Hour + time.Minute)
	if n := visible(); n != 0 {
		t.Fatalf("visible after 30 days: %d", n)
	}
}

func TestSignInRowsPerOutcome(t *testing.T) {
	tn, s, _ := newDemoTenant(t)
	cases := []struct {
		upn, pw string
		proto   Protocol
		code    int // -1: no row
	}{
		{"demo@contoso.com", pw(s, "demo@contoso.com"), SMTP, 0},
		{"demo@contoso.com", "wrong", SMTP, 50126},
		{"locked@contoso.com", pw(s, "locked@contoso.com"), SMTP, 50053},
		{"disabled@contoso.com", pw(s, "disabled@contoso.com"), SMTP, 50057},
		{"mfa@contoso.com", pw(s, "mfa@contoso.com"), SMTP, 50076},
		{"blocked@contoso.com", pw(s, "blocked@contoso.com"), SMTP, 53003},
		{"nobody@contoso.com", "x", SMTP, 50034},
		{"nobody@elsewhere.example", "x", SMTP, -1},                   // not this tenant's domain
		{"shared@contoso.com", pw(s, "shared@contoso.com"), SMTP, -1}, // authentication policy: Exchange-side
		{"nosmtp@contoso.com", pw(s, "nosmtp@contoso.com"), SMTP, -1}, // SMTP AUTH disabled: Exchange-side
		{"demo@contoso.com", pw(s, "demo@contoso.com"), IMAP, -1},     // Basic IMAP retired: before any lookup
	}
	for _, c := range cases {
		var before int
		tn.View(func(s *State) { before = len(s.SignIns) })
		tn.AuthenticateBasicFrom(c.proto, c.upn, c.pw, "192.0.2.4")
		var rows []*SignIn
		tn.View(func(s *State) { rows = s.SignIns[before:] })
		switch {
		case c.code < 0 && len(rows) != 0:
			t.Errorf("%s %s: wrote %+v, want no row", c.proto, c.upn, rows[0])
		case c.code >= 0 && len(rows) != 1:
			t.Errorf("%s %s: %d rows, want 1", c.proto, c.upn, len(rows))
		case c.code >= 0:
			r := rows[0]
			if r.ErrorCode != c.code || r.ClientAppUsed != ClientAppSMTP || r.IPAddress != "192.0.2.4" ||
				r.UserPrincipalName != c.upn || r.FailureReason == "" || r.EventType != EventInteractiveUser {
				t.Errorf("%s: row %+v", c.upn, r)
			}
		}
	}
	// Security defaults: 530035 (tenant-api.md §3, not 53003).
	tn.Update(func(s *State) error { s.SecurityDefaults = true; return nil })
	tn.AuthenticateBasicFrom(SMTP, "demo@contoso.com", pw(s, "demo@contoso.com"), "")
	tn.View(func(s *State) {
		if r := s.SignIns[len(s.SignIns)-1]; r.ErrorCode != 530035 || r.ConditionalAccessStatus != "notApplied" {
			t.Errorf("security defaults row %+v", r)
		}
	})
}

func TestSignInLogBoundedAndSaved(t *testing.T) {
	tn, s, clk := newDemoTenant(t)
	tn.Update(func(s *State) error {
		for i := range maxSignIns + maxSignIns/10 + 1 {
			s.AddSyntheticSignIn(SyntheticSignIn{UPN: "printer@contoso.com", ClientAppUsed: ClientAppSMTP,
				IPAddress: "198.51.100.1", At: clk.now.Add(time.Duration(i) * time.Second)})
		}
		return nil
	})
	if len(s.SignIns) != maxSignIns || !s.SignIns[0].CreatedDateTime.Equal(clk.now.Add(time.Duration(maxSignIns/10+1)*time.Second)) {
		t.Fatalf("log holds %d rows from %v; want the newest %d", len(s.SignIns), s.SignIns[0].CreatedDateTime, maxSignIns)
	}
	d := Duration(0)
	s.SignInLogDelayOverride, s.EntraLicense = &d, LicenseFree
	path := filepath.Join(t.TempDir(), "state.json")
	if err := tn.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.SignIns) != maxSignIns || got.SignInLogDelay() != 0 || got.HasPremium() || got.SignIns[0].UserPrincipalName != "printer@contoso.com" {
		t.Errorf("after Load: %d rows, delay %v, premium %v", len(got.SignIns), got.SignInLogDelay(), got.HasPremium())
	}
	got.EntraLicense = "E5"
	if err := got.Validate(); err == nil {
		t.Error("Validate accepts an unknown licence")
	}
}

func TestGraphTokenRolesAndWids(t *testing.T) {
	tn, _, clk := newDemoTenant(t)
	var tok string
	tn.Update(func(s *State) error {
		var err error
		tok, err = s.MintAppToken(s.FindApp(DemoReaderAppID), ResourceGraph, "1", clk.now)
		return err
	})
	var c *Claims
	tn.Update(func(s *State) error {
		var err error
		c, err = s.VerifyAccessToken(tok, clk.now)
		return err
	})
	if !c.HasRole("AuditLog.Read.All") || c.HasRole("Exchange.ManageAsApp") || !c.HasWid(DirectoryRoleTemplates["Global Reader"]) {
		t.Errorf("Graph token roles %v wids %v", c.Roles, c.Wids)
	}
}

func BenchmarkBasicLoginWithFullLog(b *testing.B) {
	tn, s, clk := newDemoTenant(b)
	for i := range maxSignIns {
		s.AddSyntheticSignIn(SyntheticSignIn{UPN: "printer@contoso.com", ClientAppUsed: ClientAppSMTP, At: clk.now.Add(time.Duration(i))})
	}
	p := pw(s, "demo@contoso.com")
	b.ReportAllocs()
	for b.Loop() {
		tn.AuthenticateBasicFrom(SMTP, "demo@contoso.com", p, "192.0.2.1")
	}
}

package tenant

import (
	"testing"
	"time"
)

func TestRefreshTokens(t *testing.T) {
	s := freshDemo(t)
	u, a := s.FindUser(DemoUser), s.FindApp(DemoAppID)
	tok, err := s.IssueRefreshToken(u, a, []string{"offline_access"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range s.RefreshTokens {
		if rt.Hash == tok {
			t.Fatal("refresh token stored in clear")
		}
	}
	cases := []struct {
		name string
		prep func()
		tok  string
		app  string
		at   time.Duration
		want RefreshOutcome
	}{
		{"ok", nil, tok, DemoAppID, time.Hour, RefreshOK},
		{"garbage", nil, "nope", DemoAppID, 0, RefreshInvalid},
		{"empty", nil, "", DemoAppID, 0, RefreshInvalid},
		{"other client", nil, tok, "00000000-0000-0000-0000-000000000001", 0, RefreshWrongClient},
		{"inactive", nil, tok, DemoAppID, 91 * 24 * time.Hour, RefreshExpired},
		{"expired by knob", func() { _ = s.ExpireRefreshTokens(DemoUser) }, tok, DemoAppID, 0, RefreshExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s = freshDemo(t)
			u, a = s.FindUser(DemoUser), s.FindApp(DemoAppID)
			tok, _ := s.IssueRefreshToken(u, a, nil, t0)
			if c.tok != "" && c.tok != "nope" {
				c.tok = tok
			}
			if c.prep != nil {
				c.prep()
			}
			if _, _, got := s.RedeemRefreshToken(c.tok, c.app, t0.Add(c.at)); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
	// User-state outcomes.
	for _, c := range []struct {
		name string
		mod  func(u *User)
		want RefreshOutcome
	}{
		{"revoked", func(u *User) { u.STSRefreshTokensValidFrom = t0.Add(time.Second) }, RefreshRevoked},
		{"locked", func(u *User) { u.Locked = true }, RefreshUserLocked},
		{"disabled", func(u *User) { u.Disabled = true }, RefreshUserDisabled},
		{"CA", func(u *User) { u.ConditionalAccessBlocked = true }, RefreshBlockedByCA},
	} {
		s := freshDemo(t)
		u := s.FindUser(DemoUser)
		tok, _ := s.IssueRefreshToken(u, s.FindApp(DemoAppID), nil, t0)
		c.mod(u)
		if _, _, got := s.RedeemRefreshToken(tok, DemoAppID, t0.Add(time.Minute)); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
}

func TestRefreshTokensBounded(t *testing.T) {
	s := freshDemo(t)
	u, a := s.FindUser(DemoUser), s.FindApp(DemoAppID)
	first, _ := s.IssueRefreshToken(u, a, nil, t0)
	var last string
	for i := 1; i <= maxRefreshTokens+5; i++ {
		last, _ = s.IssueRefreshToken(u, a, nil, t0.Add(time.Duration(i)*time.Second))
	}
	if len(s.RefreshTokens) != maxRefreshTokens {
		t.Fatalf("%d tokens kept", len(s.RefreshTokens))
	}
	if _, _, o := s.RedeemRefreshToken(first, DemoAppID, t0.Add(time.Hour)); o != RefreshInvalid {
		t.Fatalf("oldest token still valid: %d", o)
	}
	if _, _, o := s.RedeemRefreshToken(last, DemoAppID, t0.Add(time.Hour)); o != RefreshOK {
		t.Fatalf("newest token: %d", o)
	}
}

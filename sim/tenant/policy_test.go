package tenant

import (
	"testing"
	"time"
)

// TestPolicyPropagation walks the article's scenario with a fake clock:
// a policy change reaches a user after PropagationDelay, or at once after
// Set-User -STSRefreshTokensValidFrom.
func TestPolicyPropagation(t *testing.T) {
	type step struct {
		at    time.Duration // since t0
		do    func(s *State, now time.Time)
		proto Protocol
		user  string
		want  Verdict
	}
	allowImap := AllowBasic{AllowBasicAuthImap: true, AllowBasicAuthSmtp: true}
	blockAll := AllowBasic{}
	cases := []struct {
		name  string
		steps []step
	}{
		{"loosening waits for the delay", []step{
			{0, func(s *State, now time.Time) { s.SetPolicy(DemoPolicy, allowImap, now) }, IMAP, DemoUser, VerdictBasicDisabled},
			{29 * time.Second, nil, IMAP, DemoUser, VerdictBasicDisabled},
			{30 * time.Second, nil, IMAP, DemoUser, VerdictOK},
		}},
		{"STSRefreshTokensValidFrom forces it", []step{
			{0, func(s *State, now time.Time) { s.SetPolicy(DemoPolicy, allowImap, now) }, IMAP, DemoUser, VerdictBasicDisabled},
			{5 * time.Second, func(s *State, now time.Time) { _ = s.RevokeSessions(DemoUser, now) }, IMAP, DemoUser, VerdictOK},
			// Only for that user.
			{6 * time.Second, nil, IMAP, "scanner@contoso.com", VerdictBasicDisabled},
		}},
		{"STSRefreshTokensValidFrom before the change does not force", []step{
			{0, func(s *State, now time.Time) {
				_ = s.RevokeSessions(DemoUser, now.Add(-time.Minute))
				s.SetPolicy(DemoPolicy, allowImap, now)
			}, IMAP, DemoUser, VerdictBasicDisabled},
		}},
		{"tightening waits too", []step{
			{0, func(s *State, now time.Time) { s.SetPolicy(DemoPolicy, blockAll, now) }, SMTP, DemoUser, VerdictOK},
			{31 * time.Second, nil, SMTP, DemoUser, VerdictBasicDisabled},
		}},
		{"two changes: the newest propagated one applies", []step{
			{0, func(s *State, now time.Time) { s.SetPolicy(DemoPolicy, allowImap, now) }, IMAP, DemoUser, VerdictBasicDisabled},
			{20 * time.Second, func(s *State, now time.Time) { s.SetPolicy(DemoPolicy, blockAll, now) }, IMAP, DemoUser, VerdictBasicDisabled},
			{35 * time.Second, nil, IMAP, DemoUser, VerdictOK},
			{50 * time.Second, nil, IMAP, DemoUser, VerdictBasicDisabled},
		}},
		{"Set-User -AuthenticationPolicy propagates", []step{
			{0, func(s *State, now time.Time) {
				if err := s.AssignPolicy("shared@contoso.com", DemoPolicy, now); err != nil {
					panic(err)
				}
			}, SMTP, "shared@contoso.com", VerdictBasicDisabled},
			{30 * time.Second, nil, SMTP, "shared@contoso.com", VerdictOK},
			{31 * time.Second, func(s *State, now time.Time) { _ = s.AssignPolicy("shared@contoso.com", "", now) }, SMTP, "shared@contoso.com", VerdictOK},
			{61 * time.Second, nil, SMTP, "shared@contoso.com", VerdictBasicDisabled},
		}},
		{"org default policy change propagates", []step{
			{0, func(s *State, now time.Time) { _ = s.SetDefaultPolicy("", now) }, SMTP, "shared@contoso.com", VerdictBasicDisabled},
			{30 * time.Second, nil, SMTP, "shared@contoso.com", VerdictOK},
			// Users with their own policy are not affected.
			{30 * time.Second, nil, IMAP, DemoUser, VerdictBasicDisabled},
		}},
		{"zero delay applies at once", []step{
			{0, func(s *State, now time.Time) {
				s.PropagationDelay = 0
				s.SetPolicy(DemoPolicy, allowImap, now)
			}, IMAP, DemoUser, VerdictOK},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, s, clk := newDemoTenant(t)
			s.BasicAuthRetiredImapPop = false // let the policy decide IMAP
			for i, st := range c.steps {
				clk.now = t0.Add(st.at)
				if st.do != nil {
					st.do(s, clk.now)
				}
				if got := tn.AuthenticateBasic(st.proto, st.user, pw(s, st.user)); got != st.want {
					t.Fatalf("step %d (+%s) %s %s: %s, want %s", i, st.at, st.proto, st.user, got, st.want)
				}
			}
		})
	}
}

func TestEffectivePolicy(t *testing.T) {
	s := freshDemo(t)
	u := s.FindUser(DemoUser)
	got, ok := s.EffectivePolicy(u, t0)
	if !ok || got != (AllowBasic{AllowBasicAuthSmtp: true}) {
		t.Fatalf("demo user: %+v %v", got, ok)
	}
	got, ok = s.EffectivePolicy(s.FindUser("shared@contoso.com"), t0)
	if !ok || got != (AllowBasic{}) {
		t.Fatalf("org default: %+v %v", got, ok)
	}
	s.DefaultAuthenticationPolicy = ""
	if got, ok = s.EffectivePolicy(s.FindUser("shared@contoso.com"), t0); ok || got != AllowAll {
		t.Fatalf("no policy: %+v %v", got, ok)
	}
	if err := s.AssignPolicy(DemoUser, "nope", t0); err == nil {
		t.Fatal("unknown policy assigned")
	}
	if err := s.AssignPolicy("ghost@contoso.com", DemoPolicy, t0); err == nil {
		t.Fatal("unknown user assigned")
	}
	if err := s.SetDefaultPolicy("nope", t0); err == nil {
		t.Fatal("unknown default policy accepted")
	}
	// SetPolicy creates and records history.
	s.SetPolicy("New", AllowAll, t0)
	p := s.FindPolicy("new")
	if p == nil || len(p.History) != 1 || p.History[0].AllowBasic != AllowAll || !p.History[0].ChangedAt.Equal(t0) {
		t.Fatalf("SetPolicy: %+v", p)
	}
}

// A policy loaded from a state file without history must still wait out the
// propagation delay on its first change.
func TestSetPolicyWithoutHistoryPropagates(t *testing.T) {
	s := Demo()
	p := s.FindPolicy(DemoPolicy)
	if p == nil {
		t.Fatalf("demo policy %q missing", DemoPolicy)
	}
	before := p.AllowBasic
	p.History = nil
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	u := s.FindUser(DemoUser)
	s.SetPolicy(DemoPolicy, AllowBasic{}, t0)
	got, _ := s.EffectivePolicy(u, t0.Add(time.Second))
	if got != before {
		t.Fatalf("change applied before propagation: got %+v, want old value %+v", got, before)
	}
	got, _ = s.EffectivePolicy(u, t0.Add(time.Duration(s.PropagationDelay)+time.Second))
	if got != (AllowBasic{}) {
		t.Fatalf("change not applied after propagation: got %+v", got)
	}
}

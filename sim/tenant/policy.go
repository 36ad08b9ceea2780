package tenant

import (
	"fmt"
	"time"
)

// Authentication policies do not reach a user at once: Exchange applies a
// change when the user's tokens are next refreshed ("wait for the token to be
// refreshed after it expires, or run Set-User -STSRefreshTokensValidFrom"
// — the support article in shared/seed). The emulator models that as a
// fixed State.PropagationDelay after the change, cut short for a user whose
// STSRefreshTokensValidFrom is at or after the change.

// AllowAll is the absence of a policy: Basic allowed on every protocol.
var AllowAll = AllowBasic{AllowBasicAuthImap: true, AllowBasicAuthPop: true, AllowBasicAuthSmtp: true}

// Allows reports whether the switches allow Basic on proto.
func (a AllowBasic) Allows(proto Protocol) bool {
	switch proto {
	case IMAP:
		return a.AllowBasicAuthImap
	case POP:
		return a.AllowBasicAuthPop
	case SMTP:
		return a.AllowBasicAuthSmtp
	}
	return false
}

// SetPolicy sets (creating if needed) the named policy's switches and records
// the change in its History, so that EffectivePolicy applies it only once it
// has propagated.
func (s *State) SetPolicy(name string, allow AllowBasic, now time.Time) {
	p := s.FindPolicy(name)
	if p == nil {
		p = &AuthenticationPolicy{Name: name}
		s.Policies = append(s.Policies, p)
	} else if len(p.History) == 0 {
		// A policy from an older state file has no history: record the
		// value in force before this change, so the change still waits out
		// the propagation delay.
		p.History = append(p.History, PolicyVersion{AllowBasic: p.AllowBasic})
	}
	p.AllowBasic = allow
	p.History = append(p.History, PolicyVersion{AllowBasic: allow, ChangedAt: now})
}

// AssignPolicy is Set-User -AuthenticationPolicy: it assigns the named policy
// ("" = back to the org default) to a user, effective after propagation.
func (s *State) AssignPolicy(upn, policy string, now time.Time) error {
	u := s.FindUser(upn)
	if u == nil {
		return fmt.Errorf("tenant: user %q not found", upn)
	}
	if policy != "" {
		p := s.FindPolicy(policy)
		if p == nil {
			return fmt.Errorf("tenant: authentication policy %q not found", policy)
		}
		policy = p.Name
	}
	if len(u.PolicyHistory) == 0 {
		// Record the value in force before this change, so the old policy
		// keeps applying until the new one has propagated.
		u.PolicyHistory = append(u.PolicyHistory, PolicyAssignment{Policy: u.AuthenticationPolicy})
	}
	u.AuthenticationPolicy = policy
	u.PolicyHistory = append(u.PolicyHistory, PolicyAssignment{Policy: policy, ChangedAt: now})
	return nil
}

// SetDefaultPolicy is Set-OrganizationConfig -DefaultAuthenticationPolicy.
func (s *State) SetDefaultPolicy(policy string, now time.Time) error {
	if policy != "" {
		p := s.FindPolicy(policy)
		if p == nil {
			return fmt.Errorf("tenant: authentication policy %q not found", policy)
		}
		policy = p.Name
	}
	if len(s.DefaultPolicyHistory) == 0 {
		s.DefaultPolicyHistory = append(s.DefaultPolicyHistory, PolicyAssignment{Policy: s.DefaultAuthenticationPolicy})
	}
	s.DefaultAuthenticationPolicy = policy
	s.DefaultPolicyHistory = append(s.DefaultPolicyHistory, PolicyAssignment{Policy: policy, ChangedAt: now})
	return nil
}

// propagated reports whether a change made at changed has reached u by now.
func (s *State) propagated(u *User, changed, now time.Time) bool {
	if !now.Before(changed.Add(time.Duration(s.PropagationDelay))) {
		return true
	}
	return u != nil && !u.STSRefreshTokensValidFrom.IsZero() && !u.STSRefreshTokensValidFrom.Before(changed)
}

// assignment is the newest propagated entry of h, or current when h is empty.
// Before any entry has propagated the first entry (the value in force when
// history started) applies.
func (s *State) assignment(u *User, h []PolicyAssignment, current string, now time.Time) string {
	if len(h) == 0 {
		return current
	}
	for i := len(h) - 1; i >= 0; i-- {
		if s.propagated(u, h[i].ChangedAt, now) {
			return h[i].Policy
		}
	}
	return h[0].Policy
}

// EffectivePolicy is the authentication policy in force for u at now: the
// user's assigned policy, else the org default, each as propagated to u. The
// bool is false when no policy applies (Basic allowed everywhere).
func (s *State) EffectivePolicy(u *User, now time.Time) (AllowBasic, bool) {
	name := ""
	if u != nil {
		name = s.assignment(u, u.PolicyHistory, u.AuthenticationPolicy, now)
	}
	if name == "" {
		name = s.assignment(u, s.DefaultPolicyHistory, s.DefaultAuthenticationPolicy, now)
	}
	if name == "" {
		return AllowAll, false
	}
	p := s.FindPolicy(name)
	if p == nil {
		// A removed policy protects nobody.
		return AllowAll, false
	}
	if len(p.History) == 0 {
		return p.AllowBasic, true
	}
	for i := len(p.History) - 1; i >= 0; i-- {
		if s.propagated(u, p.History[i].ChangedAt, now) {
			return p.History[i].AllowBasic, true
		}
	}
	// The policy's first value applies from its creation: the assignment,
	// not the creation, is what propagates.
	return p.History[0].AllowBasic, true
}

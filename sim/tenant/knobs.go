package tenant

import (
	"fmt"
	"time"
)

// Emulator knobs: state changes that have no real cmdlet. The cmdlet
// interpreter exposes them as Set-Sim* verbs; tests call them directly.

// LockUser sets or clears smart lockout for a user (clearing also resets
// the bad-password count).
func (s *State) LockUser(upn string, locked bool) error {
	u := s.FindMailbox(upn)
	if u == nil {
		return fmt.Errorf("tenant: user %q not found", upn)
	}
	u.Locked = locked
	if !locked {
		u.FailedLogins = 0
	}
	return nil
}

// ExpireSecrets makes every client secret of an app expired as of now
// (AADSTS7000222 afterwards).
func (s *State) ExpireSecrets(appID string, now time.Time) error {
	a := s.FindApp(appID)
	if a == nil {
		return fmt.Errorf("tenant: app %q not found", appID)
	}
	for i := range a.Secrets {
		if a.Secrets[i].Expires.IsZero() || a.Secrets[i].Expires.After(now) {
			a.Secrets[i].Expires = now.Add(-time.Second)
		}
	}
	return nil
}

// ExpireRefreshTokens makes the user's refresh tokens fail as inactive
// (AADSTS700082), as if they had not been used for the inactivity window.
// upn "" expires every user's.
func (s *State) ExpireRefreshTokens(upn string) error {
	var u *User
	if upn != "" {
		if u = s.FindMailbox(upn); u == nil {
			return fmt.Errorf("tenant: user %q not found", upn)
		}
	}
	for _, rt := range s.RefreshTokens {
		if u == nil || s.FindMailbox(rt.UPN) == u {
			rt.Expired = true
		}
	}
	return nil
}

// RevokeSessions is Set-User -STSRefreshTokensValidFrom: refresh tokens
// issued before at are revoked (AADSTS50173) and authentication-policy
// changes made before at apply to the user at once.
func (s *State) RevokeSessions(upn string, at time.Time) error {
	u := s.FindMailbox(upn)
	if u == nil {
		return fmt.Errorf("tenant: user %q not found", upn)
	}
	u.STSRefreshTokensValidFrom = at
	return nil
}

// SetEra switches the reply era.
func (s *State) SetEra(e Era) error {
	switch e {
	case Era2023, Era2026:
		s.Era = e
		return nil
	}
	return fmt.Errorf("tenant: era %q unknown (supported: %s, %s)", e, Era2023, Era2026)
}

// SetThrottled makes every login of a user get VerdictThrottled, or stops it.
func (s *State) SetThrottled(upn string, on bool) error {
	u := s.FindMailbox(upn)
	if u == nil {
		return fmt.Errorf("tenant: user %q not found", upn)
	}
	u.Throttled = on
	return nil
}

package tenant

import (
	"crypto/subtle"
	"strings"
	"time"
)

// SignInOutcome is Entra's first- and second-factor decision for a password
// sign-in. Basic logins at IMAP/POP/SMTP and the token endpoint's ROPC grant
// share it, so that both count toward smart lockout and agree on the cause.
type SignInOutcome int

const (
	SignInOK SignInOutcome = iota
	SignInUnknownUser
	SignInBadPassword
	SignInLocked
	SignInDisabled
	SignInSecurityDefaults
	SignInConditionalAccess
	SignInMFARequired     // registered: AADSTS50076
	SignInMFARegistration // not registered: AADSTS50079
)

// lockoutThreshold is smart lockout's bad-password count.
func (s *State) lockoutThreshold() int {
	if s.LockoutThreshold > 0 {
		return s.LockoutThreshold
	}
	return 10
}

// FindMailbox finds a user by address: the UPN, or the same local part at
// any of the tenant's accepted domains (proxy addresses).
func (s *State) FindMailbox(addr string) *User {
	if u := s.FindUser(addr); u != nil {
		return u
	}
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || !s.HasDomain(domain) {
		return nil
	}
	for _, u := range s.Users {
		ul, ud, _ := strings.Cut(u.UPN, "@")
		if strings.EqualFold(ul, local) && s.HasDomain(ud) {
			return u
		}
	}
	return nil
}

// HasDomain reports whether d is one of the tenant's accepted domains.
func (s *State) HasDomain(d string) bool {
	for _, x := range s.Domains {
		if strings.EqualFold(x, d) {
			return true
		}
	}
	return false
}

// PasswordSignIn runs Entra's password sign-in for upn and records its
// effect on smart lockout. Order (Entra evaluates the account, then the
// first factor, then policies — Conditional Access and security defaults
// apply "after first-factor authentication is completed"):
//
//  1. unknown user;
//  2. locked (smart lockout refuses without checking the password);
//  3. disabled (inferred: before the password, as Entra does not reveal
//     whether a disabled account's password is right);
//  4. wrong password: counts; the threshold-th failure locks;
//  5. security defaults (block legacy auth / ROPC — inferred for ROPC);
//  6. Conditional Access block;
//  7. MFA required (registered or not).
func (s *State) PasswordSignIn(upn, password string, now time.Time) (SignInOutcome, *User) {
	u := s.FindMailbox(upn)
	switch {
	case u == nil:
		return SignInUnknownUser, nil
	case u.Locked:
		return SignInLocked, u
	case u.Disabled:
		return SignInDisabled, u
	}
	if u.Password == "" || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		u.FailedLogins++
		if u.FailedLogins >= s.lockoutThreshold() {
			u.Locked = true
		}
		return SignInBadPassword, u
	}
	u.FailedLogins = 0
	switch {
	case s.SecurityDefaults:
		return SignInSecurityDefaults, u
	case u.ConditionalAccessBlocked:
		return SignInConditionalAccess, u
	case u.MFARequired && u.MFARegistered:
		return SignInMFARequired, u
	case u.MFARequired:
		return SignInMFARegistration, u
	}
	return SignInOK, u
}

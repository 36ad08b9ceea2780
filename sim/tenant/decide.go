package tenant

import (
	"slices"
	"strings"
	"time"
)

// Era is the tenant's reply era (DefaultEra when unset).
func (t *Tenant) Era() Era {
	var e Era
	t.View(func(s *State) { e = s.Era })
	if e == "" {
		return DefaultEra
	}
	return e
}

// BasicAllowed reports whether Basic can work on proto at all in this
// tenant, whatever the user: false for IMAP and POP while Basic for them is
// retired, and for SMTP while Basic client submission is. Servers use it to
// decide early refusals.
func (t *Tenant) BasicAllowed(proto Protocol) bool {
	ok := true
	t.View(func(s *State) {
		ok = !(s.BasicAuthRetiredImapPop && (proto == IMAP || proto == POP)) &&
			!(s.BasicAuthRetiredSmtp && proto == SMTP)
	})
	return ok
}

// AdvertisePlain reports whether the pre-authentication capability list of
// proto offers a password mechanism. It depends on the era alone, never on
// the tenant: Exchange's capability lists are the same for every tenant
// (exo-responses.md §2). IMAP 2023 lists AUTH=PLAIN even though Basic is
// refused; IMAP 2026 lists LOGINDISABLED instead. POP's CAPA keeps USER and
// SASL PLAIN, SMTP keeps AUTH LOGIN, in both eras.
func (t *Tenant) AdvertisePlain(proto Protocol) bool {
	if proto == IMAP {
		return t.Era() == Era2023
	}
	return true
}

// AuthenticateBasic decides a password login (IMAP LOGIN / AUTHENTICATE
// PLAIN, POP USER/PASS / AUTH PLAIN, SMTP AUTH LOGIN).
//
// Order of checks, first match wins:
//
//  1. Throttled knob.
//  2. Basic for IMAP/POP retired: refused before any account lookup (I12,
//     "answered … before any account lookup"); no lockout count.
//  3. Unknown mailbox: bad credentials.
//  4. SMTP switch, mailbox value if set, else tenant (S4/S6). Exchange-side,
//     so before Entra sees the password (inferred, like 6).
//  5. Basic SMTP AUTH retired (BasicAuthRetiredSmtp, S14). After the SMTP
//     switches: they turn SMTP AUTH off for every mechanism and Exchange
//     answers them with S4/S6 for Basic and XOAUTH2 alike, so a tenant with
//     the switch on keeps seeing S4 (inferred: Microsoft did not say which
//     text wins). Before authentication policies (no policy can allow what
//     is retired, as for IMAP/POP) and before Entra, so security defaults,
//     a wrong password or a locked account are never reached and nothing
//     counts toward lockout (inferred: a retired mechanism is refused
//     without checking the password, as I12 is). An unknown address still
//     gets S10 at step 3, like the switches (inferred). XOAUTH2 is not
//     affected: AuthenticateBearer does not look at the knob.
//  6. Authentication policy in force for the user (propagated): Exchange
//     blocks Basic "before the request is passed to Entra", so a blocked
//     user's password is not checked and does not count (Microsoft's stated
//     reason for policies: no password spray through them).
//  7. Entra sign-in (PasswordSignIn): locked, disabled, bad password
//     (counts; locks at the threshold), security defaults, Conditional
//     Access, MFA — in that order.
//  8. Protocol disabled on the mailbox (ImapEnabled/PopEnabled false): only
//     after a good password, as Exchange needs the session to look at the
//     mailbox (inferred).
//
// Sign-in log (tenant-api.md §5.7, inferred where it says so): a login
// that reached Entra (step 7, or 3 for an address at one of the tenant's
// domains: 50034) writes a user row with Entra's error code, including a
// success followed by step 8's refusal (errorCode 0, "may show errorCode
// 0", §5.7). Refusals Exchange makes before Entra (1, 2, 4, 5, 6) write
// none: "unknown whether a blocked request reaches Entra at all" (§9); the
// emulator says it does not.
func (t *Tenant) AuthenticateBasic(proto Protocol, user, password string) Verdict {
	return t.AuthenticateBasicFrom(proto, user, password, "")
}

func (t *Tenant) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (s *State) decideBasicFrom(proto Protocol, user, password, ip string, now time.Time) Verdict {
	if u := s.FindMailbox(user); u != nil && u.Throttled {
		return VerdictThrottled
	}
	if s.BasicAuthRetiredImapPop && (proto == IMAP || proto == POP) {
		return VerdictBasicDisabled
	}
	u := s.FindMailbox(user)
	if u == nil {
		if _, domain, ok := strings.Cut(user, "@"); ok && s.HasDomain(domain) {
			s.recordBasic(proto, user, ip, SignInUnknownUser, nil, now)
		}
		return VerdictBadCredentials
	}
	if proto == SMTP {
		if v := s.smtpSwitch(u); v != VerdictOK {
			return v
		}
		if s.BasicAuthRetiredSmtp {
			return VerdictBasicRetired
		}
	}
	if allow, _ := s.EffectivePolicy(u, now); !allow.Allows(proto) {
		return VerdictBasicDisabled
	}
	out, _ := s.PasswordSignIn(user, password, now)
	s.recordBasic(proto, user, ip, out, u, now)
	switch out {
	case SignInOK:
	case SignInUnknownUser, SignInBadPassword:
		return VerdictBadCredentials
	case SignInLocked:
		return VerdictAccountLocked
	case SignInDisabled:
		return VerdictAccountDisabled
	case SignInSecurityDefaults:
		return VerdictSecurityDefaults
	default: // Conditional Access, MFA: S11
		return VerdictCriteriaNotMet
	}
	if !mailboxProtocolEnabled(u, proto) {
		return VerdictProtocolDisabled
	}
	return VerdictOK
}

// smtpSwitch applies SmtpClientAuthenticationDisabled: the mailbox value
// when set (true or false overrides the tenant), else the tenant's.
func (s *State) smtpSwitch(u *User) Verdict {
	if m := u.CAS.SmtpClientAuthenticationDisabled; m != nil {
		if *m {
			return VerdictSMTPDisabledMailbox
		}
		return VerdictOK
	}
	if s.Transport.SmtpClientAuthenticationDisabled {
		return VerdictSMTPDisabledTenant
	}
	return VerdictOK
}

func mailboxProtocolEnabled(u *User, proto Protocol) bool {
	switch proto {
	case IMAP:
		return u.CAS.ImapEnabled
	case POP:
		return u.CAS.PopEnabled
	}
	return true
}

// What each protocol needs in roles (app-only) or scp (delegated).
var (
	appRole = map[Protocol]string{IMAP: "IMAP.AccessAsApp", POP: "POP.AccessAsApp", SMTP: "SMTP.SendAsApp"}
	// SMTP.SendAsApp in scp: Microsoft's current page lists it in the
	// delegated table (exo-responses.md §3 notes); accepted (inferred).
	userScope = map[Protocol][]string{
		IMAP: {"IMAP.AccessAsUser.All"}, POP: {"POP.AccessAsUser.All"}, SMTP: {"SMTP.Send", "SMTP.SendAsApp"},
	}
)

// AuthenticateBearer decides a SASL XOAUTH2 login: user is the XOAUTH2
// user= value, token the bearer token.
//
// Order of checks, first match wins:
//
//  1. Token: form, signature (this tenant's key), lifetime, tid/issuer
//     → VerdictTokenRejected (I5, P6, S15).
//  2. Audience: Exchange resource only; Graph and anything else refused.
//  3. Mailbox named by user= must exist → VerdictTokenRejected.
//  4. Throttled knob.
//  5. SMTP switches, tenant (S5) and mailbox (S6): they refuse OAuth too.
//     After token validation (Exchange needs a verified caller before it
//     reveals settings; inferred), before permissions (settings answer
//     whatever the caller's rights; inferred).
//  6. App-only token: the protocol's role in roles, else rejected; an
//     Exchange service principal for appid whose ObjectId equals the
//     token's oid (the enterprise app's object id) — a missing or wrong
//     ObjectId is rejected (MS doc: "Using the incorrect Object ID will
//     cause an authentication failure"); then FullAccess on the mailbox for
//     that principal, else VerdictNotConnected (I6: MailKit maintainer "the
//     user doesn't have the proper IMAP permissions"; we choose I6 over I5
//     for this case — inferred).
//     Delegated token: the protocol's scope in scp, else rejected; upn must
//     be the mailbox, or hold FullAccess on it (shared mailbox, MS doc);
//     otherwise IMAP/POP get VerdictNotConnected (I6 "token user ≠
//     mailbox") and SMTP VerdictTokenRejected (S15 "user= not the token's
//     user").
//  7. ImapEnabled/PopEnabled false → VerdictNotConnected for IMAP (I6 lists
//     Set-CASMailbox -ImapEnabled $false) and VerdictProtocolDisabled for
//     POP (P6 "POP not enabled for mailbox suspected"; pop3d words it P6).
//
// For SMTP, VerdictNotConnected means AUTH succeeds and submission then
// fails (S30, inferred). Access tokens stay valid for a locked or disabled
// user until they expire, as in Entra without continuous access evaluation.
func (t *Tenant) AuthenticateBearer(proto Protocol, user, token string) Verdict {
	v := VerdictTokenRejected
	t.View(func(s *State) { v = s.decideBearer(proto, user, token, t.now()) })
	return v
}

func (s *State) decideBearer(proto Protocol, user, token string, now time.Time) Verdict {
	c, err := s.VerifyAccessToken(token, now)
	if err != nil {
		return VerdictTokenRejected
	}
	if !slices.Contains(ExchangeAudiences, strings.TrimSuffix(c.Aud, "/")) {
		return VerdictTokenRejected
	}
	mb := s.FindMailbox(user)
	if mb == nil {
		return VerdictTokenRejected
	}
	if mb.Throttled {
		return VerdictThrottled
	}
	if proto == SMTP {
		if v := s.smtpSwitch(mb); v != VerdictOK {
			return v
		}
	}
	if c.IsApp() {
		if !c.HasRole(appRole[proto]) {
			return VerdictTokenRejected
		}
		sp := s.servicePrincipal(c.AppID, c.OID)
		if sp == nil {
			return VerdictTokenRejected
		}
		if !s.hasFullAccess(mb, sp.ObjectID, sp.AppID, sp.DisplayName) {
			return VerdictNotConnected
		}
	} else {
		if !c.HasScope(userScope[proto]...) {
			return VerdictTokenRejected
		}
		tu := s.FindMailbox(firstNonEmpty(c.UPN, c.UniqueName, c.PreferredUsername))
		if tu == nil {
			return VerdictTokenRejected
		}
		if tu != mb && !s.hasFullAccess(mb, tu.UPN, tu.ObjectID) {
			if proto == SMTP {
				return VerdictTokenRejected
			}
			return VerdictNotConnected
		}
	}
	switch {
	case proto == IMAP && !mb.CAS.ImapEnabled:
		return VerdictNotConnected
	case proto == POP && !mb.CAS.PopEnabled:
		return VerdictProtocolDisabled
	}
	return VerdictOK
}

// servicePrincipal finds the Exchange service principal registered for
// appID with exactly objectID.
func (s *State) servicePrincipal(appID, objectID string) *ServicePrincipal {
	if appID == "" || objectID == "" {
		return nil
	}
	for _, sp := range s.ServicePrincipals {
		if strings.EqualFold(sp.AppID, appID) && strings.EqualFold(sp.ObjectID, objectID) {
			return sp
		}
	}
	return nil
}

// hasFullAccess reports a FullAccess grant on mb to any of the trustee's
// identities (Add-MailboxPermission -User accepts an id or a name).
func (s *State) hasFullAccess(mb *User, who ...string) bool {
	for _, p := range s.MailboxPermissions {
		if s.FindMailbox(p.Mailbox) != mb {
			continue
		}
		if !slices.ContainsFunc(p.AccessRights, func(r string) bool { return strings.EqualFold(r, "FullAccess") }) {
			continue
		}
		for _, w := range who {
			if w != "" && strings.EqualFold(p.User, w) {
				return true
			}
		}
	}
	return false
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

package tenant

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// exchangeScopes are the delegated permissions of the Exchange resource
// that go into scp (offline_access, openid, profile are not resource
// scopes).
var exchangeScopes = []string{
	"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "SMTP.SendAsApp",
	"EWS.AccessAsUser.All", "Mail.Read", "Mail.Send",
}

// IsExchangeResource reports whether a resource id names Exchange Online.
func IsExchangeResource(res string) bool {
	return slices.Contains(ExchangeAudiences, strings.TrimSuffix(res, "/"))
}

// MintAppToken issues a client-credentials access token for app on resource
// aud. acr is appidacr: "1" for a secret, "2" for a certificate. Roles are
// the app's consented application permissions on Exchange; a token for
// another resource, or an app without any, gets none — Entra issues the
// token anyway (exo-responses.md §3, "(no error)").
func (s *State) MintAppToken(a *App, aud, acr string, now time.Time) (string, error) {
	c := s.baseClaims(aud, now)
	c.AppID, c.AppDisplayName, c.AppIDACR, c.IDTyp = a.AppID, a.DisplayName, acr, "app"
	c.OID, c.Sub = a.EnterpriseObjectID, a.EnterpriseObjectID
	if IsExchangeResource(aud) {
		c.Roles = slices.Clone(a.Roles)
	}
	return s.SignJWT(c)
}

// MintUserToken issues a delegated access token for u through app a on
// resource aud; scp is every consented delegated scope of that resource (v1
// tokens carry the whole consented set, not just what was asked).
func (s *State) MintUserToken(a *App, u *User, aud, acr string, now time.Time) (string, error) {
	c := s.baseClaims(aud, now)
	c.AppID, c.AppDisplayName, c.AppIDACR, c.IDTyp = a.AppID, a.DisplayName, acr, "user"
	c.OID, c.Sub = u.ObjectID, u.ObjectID
	c.UPN, c.UniqueName, c.PreferredUsername, c.Name = u.UPN, u.UPN, u.UPN, u.DisplayName
	if IsExchangeResource(aud) {
		var scp []string
		for _, sc := range a.DelegatedScopes {
			if slices.Contains(exchangeScopes, sc) {
				scp = append(scp, sc)
			}
		}
		c.Scp = strings.Join(scp, " ")
	} else {
		c.Scp = "User.Read"
	}
	return s.SignJWT(c)
}

func (s *State) baseClaims(aud string, now time.Time) *Claims {
	return &Claims{
		Aud: aud, Iss: IssuerV1(s.ID), TID: s.ID,
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(AccessTokenLifetime).Unix(),
		UTI: strings.ReplaceAll(newGUID(), "-", "")[:22], Ver: "1.0",
	}
}

// IssueAppToken mints a client-credentials token for appID on
// https://outlook.office365.com, as the token endpoint would; for other
// packages' tests.
func (t *Tenant) IssueAppToken(appID string) (string, error) {
	var tok string
	err := t.Update(func(s *State) error {
		a := s.FindApp(appID)
		if a == nil {
			return fmt.Errorf("tenant: app %q not found", appID)
		}
		var err error
		tok, err = s.MintAppToken(a, ResourceOutlook365, "1", t.now())
		return err
	})
	return tok, err
}

// IssueUserToken mints a delegated token for upn through appID on
// https://outlook.office.com; for other packages' tests.
func (t *Tenant) IssueUserToken(appID, upn string) (string, error) {
	var tok string
	err := t.Update(func(s *State) error {
		a, u := s.FindApp(appID), s.FindMailbox(upn)
		if a == nil || u == nil {
			return fmt.Errorf("tenant: app %q or user %q not found", appID, upn)
		}
		var err error
		tok, err = s.MintUserToken(a, u, ResourceOutlook, "0", t.now())
		return err
	})
	return tok, err
}

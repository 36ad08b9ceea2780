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
	switch {
	case IsExchangeResource(aud):
		c.Roles = slices.Clone(a.Roles)
	case IsGraphResource(aud):
		// Graph application permissions (tenant-api.md §1.4: "Values are
		// the permission names").
		c.Roles = slices.Clone(a.GraphRoles)
	}
	// The service principal's directory roles as role template ids
	// (tenant-api.md §1.4 wids; §8.6: Exchange "RBAC is configured using the
	// directory role information that's available in the token").
	c.Wids = DirectoryRoleIDs(a.DirectoryRoles)
	return s.SignJWT(c)
}

// IsGraphResource reports whether a resource id names Microsoft Graph.
func IsGraphResource(res string) bool {
	res = strings.TrimSuffix(strings.ToLower(res), "/")
	return res == ResourceGraph || res == ResourceGraphAppID
}

// DirectoryRoleTemplates maps the Entra built-in roles the emulator knows to
// their role template ids. Global Reader: doc says (tenant-api.md §1.4);
// Security Reader: seen in code (§1.4); the others are Microsoft's
// built-in-roles page values (not in tenant-api.md).
var DirectoryRoleTemplates = map[string]string{
	"Global Reader":          "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
	"Security Reader":        "5d6b6bb7-de71-4623-b4af-96380a352509",
	"Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
	"Global Administrator":   "62e90394-69f5-4237-9190-012177145e10",
}

// DirectoryRoleIDs maps role names to template ids, unknown names dropped.
func DirectoryRoleIDs(names []string) []string {
	var ids []string
	for _, n := range names {
		for k, id := range DirectoryRoleTemplates {
			if strings.EqualFold(k, n) {
				ids = append(ids, id)
			}
		}
	}
	return ids
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

package probe

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Claims are the parts of an access token's payload the probe looks at. They
// are read without verifying the signature: the server verifies; the probe
// only wants to predict and explain its verdict.
type Claims struct {
	Audience  []string
	TenantID  string
	AppID     string
	UPN       string // upn, else preferred_username, unique_name, email
	Roles     []string
	Scopes    []string
	ExpiresAt time.Time
	// ObjectID is oid: in an application token, the object id of the app's
	// enterprise application (service principal), which remedies need for
	// New-ServicePrincipal and Add-MailboxPermission; in a delegated token,
	// the user's.
	ObjectID string
}

// Resource identifiers an access token for Exchange Online's IMAP, POP and
// SMTP carries in aud, and Microsoft Graph's, which those servers refuse.
//
// https://ps.outlook.com is Exchange's too, but only the resource of the
// multi-tenant admin-consent URL for POP/IMAP; a client-credentials token
// issued for it still failed IMAP in MailKit#1811 (exo-responses.md §3),
// and the emulator refuses it. Such a token gets the Exchange checks plus
// ProblemAudUnusual, never a clean bill.
var (
	exchangeAudiences = []string{
		"https://outlook.office.com", "https://outlook.office365.com",
		"00000002-0000-0ff1-ce00-000000000000",
	}
	unusualExchangeAudiences = []string{"https://ps.outlook.com"}
	graphAudiences           = []string{"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"}
)

// What each protocol needs in roles (application tokens) or scp (delegated).
var (
	appRoles = map[Protocol][]string{
		IMAP: {"IMAP.AccessAsApp"}, POP: {"POP.AccessAsApp"}, SMTP: {"SMTP.SendAsApp"},
	}
	userScopes = map[Protocol][]string{
		IMAP: {"IMAP.AccessAsUser.All"}, POP: {"POP.AccessAsUser.All"}, SMTP: {"SMTP.Send", "SMTP.SendAsApp"},
	}
)

// Problem codes open each TokenInfo.Problems entry ("code: explanation") so
// that diagnosis can branch on them without parsing prose.
const (
	ProblemNotJWT   = "not_jwt"
	ProblemAudGraph = "aud_graph"
	// ProblemAudUnusual: aud is an Exchange resource the mail servers are
	// not known to accept (https://ps.outlook.com).
	ProblemAudUnusual   = "aud_unusual"
	ProblemMissingRole  = "missing_role"
	ProblemMissingScope = "missing_scope"
	ProblemNoPermission = "no_permission"
	ProblemExpired      = "expired"
	ProblemUserMismatch = "upn_mismatch"
)

// errNotJWT is returned for anything that is not three dot-separated
// base64url parts with a JSON object in the middle (opaque tokens exist:
// Google's are not JWTs).
var errNotJWT = errors.New("access token is not a JWT")

// ParseClaims decodes the payload of a JWT without verifying it. It must
// cope with any input: tokens come from files people paste into.
func ParseClaims(token string) (Claims, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 || parts[1] == "" {
		return Claims{}, errNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", errNotJWT, err)
	}
	var raw struct {
		Aud               json.RawMessage `json:"aud"`
		Tid               string          `json:"tid"`
		AppID             string          `json:"appid"`
		Azp               string          `json:"azp"`
		UPN               string          `json:"upn"`
		PreferredUsername string          `json:"preferred_username"`
		UniqueName        string          `json:"unique_name"`
		Email             string          `json:"email"`
		Roles             json.RawMessage `json:"roles"`
		Scp               json.RawMessage `json:"scp"`
		Exp               json.Number     `json:"exp"`
		Oid               string          `json:"oid"`
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", errNotJWT, err)
	}
	c := Claims{
		Audience: stringOrList(raw.Aud, false),
		TenantID: raw.Tid,
		AppID:    firstNonEmpty(raw.AppID, raw.Azp),
		UPN:      firstNonEmpty(raw.UPN, raw.PreferredUsername, raw.UniqueName, raw.Email),
		Roles:    stringOrList(raw.Roles, false),
		Scopes:   stringOrList(raw.Scp, true),
		ObjectID: raw.Oid,
	}
	if raw.Exp != "" {
		if f, err := raw.Exp.Float64(); err == nil && f > 0 && f < 1e11 {
			c.ExpiresAt = time.Unix(int64(f), 0).UTC()
		}
	}
	return c, nil
}

// stringOrList reads a claim that is a string or an array of strings; scp is
// one space-separated string by convention.
func stringOrList(m json.RawMessage, split bool) []string {
	if len(m) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		if split {
			return strings.Fields(s)
		}
		if s == "" {
			return nil
		}
		return []string{s}
	}
	var l []string
	if json.Unmarshal(m, &l) == nil {
		if split {
			var out []string
			for _, e := range l {
				out = append(out, strings.Fields(e)...)
			}
			return out
		}
		return l
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Inspect describes a token for an Attempt and lists what will make the
// server refuse it for this protocol and XOAUTH2 user at time now.
func Inspect(tok Token, p Protocol, user string, now time.Time) *TokenInfo {
	info := &TokenInfo{Flow: tok.Flow, ExpiresAt: tok.ExpiresAt}
	c, err := ParseClaims(tok.AccessToken)
	if err != nil {
		// Opaque tokens are legitimate elsewhere (Google); say so, do not
		// call it a fault.
		info.Problems = append(info.Problems, ProblemNotJWT+": the access token is not a JWT; its claims cannot be checked")
		if !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt) {
			info.Problems = append(info.Problems, fmt.Sprintf("%s: the token expired at %s", ProblemExpired, tok.ExpiresAt.Format(time.RFC3339)))
		}
		return info
	}
	info.Audience = strings.Join(c.Audience, " ")
	info.TenantID, info.AppID, info.UPN = c.TenantID, c.AppID, c.UPN
	info.Roles, info.Scopes = c.Roles, c.Scopes
	info.ObjectID = c.ObjectID
	if !c.ExpiresAt.IsZero() {
		info.ExpiresAt = c.ExpiresAt
	}
	info.Problems = c.Problems(p, user, now)
	return info
}

// Problems lists what Exchange Online will refuse about this token for the
// protocol and XOAUTH2 user. Audience-specific checks apply only to Graph and
// Exchange audiences, so tokens for other servers get no Exchange advice.
func (c Claims) Problems(p Protocol, user string, now time.Time) []string {
	var out []string
	if !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) {
		out = append(out, fmt.Sprintf("%s: the token expired at %s", ProblemExpired, c.ExpiresAt.Format(time.RFC3339)))
	}
	if anyIn(c.Audience, graphAudiences) {
		out = append(out, fmt.Sprintf("%s: aud is Microsoft Graph (%s), which Exchange's IMAP/POP/SMTP refuse; request the scope https://outlook.office365.com/.default (application) or https://outlook.office.com/<protocol scope> (delegated)", ProblemAudGraph, strings.Join(c.Audience, " ")))
		return out
	}
	if !anyIn(c.Audience, exchangeAudiences) {
		if !anyIn(c.Audience, unusualExchangeAudiences) {
			return out
		}
		// Like a Graph token: the audience is the fix, and roles/scp of a
		// token for another resource say nothing about the right one.
		out = append(out, fmt.Sprintf("%s: aud is %s, the resource of Exchange's multi-tenant admin consent, not the one IMAP/POP/SMTP accept (a token for it was refused by IMAP in a public report, MailKit#1811); request the scope https://outlook.office365.com/.default (application) or https://outlook.office.com/<protocol scope> (delegated)", ProblemAudUnusual, strings.Join(c.Audience, " ")))
		return out
	}
	delegated := len(c.Scopes) > 0
	switch {
	case !delegated && len(c.Roles) == 0:
		out = append(out, fmt.Sprintf("%s: the token has neither roles nor scp: the application has no Exchange permission for %s, or admin consent is missing", ProblemNoPermission, p))
	case !delegated && !anyIn(c.Roles, appRoles[p]):
		out = append(out, fmt.Sprintf("%s: roles %v lack %s", ProblemMissingRole, c.Roles, appRoles[p][0]))
	case delegated && !anyIn(c.Scopes, userScopes[p]):
		out = append(out, fmt.Sprintf("%s: scp %v lacks %s", ProblemMissingScope, c.Scopes, userScopes[p][0]))
	}
	if delegated && c.UPN != "" && user != "" && !strings.EqualFold(c.UPN, user) {
		out = append(out, fmt.Sprintf("%s: the token was issued to %s but XOAUTH2 logs in as %s", ProblemUserMismatch, c.UPN, user))
	}
	return out
}

// anyIn reports whether any of have matches (case-insensitively, ignoring a
// trailing slash) any of want.
func anyIn(have, want []string) bool {
	return slices.ContainsFunc(have, func(h string) bool {
		h = strings.TrimSuffix(h, "/")
		return slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(h, w) })
	})
}

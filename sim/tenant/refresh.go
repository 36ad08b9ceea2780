package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Refresh tokens are opaque random strings; the State keeps only their
// SHA-256. As in Entra, redeeming one returns a new one and the old stays
// valid until it expires; to keep a long-running emulator's state bounded,
// each (user, app) keeps at most maxRefreshTokens, least recently used
// dropped first (deviation: Entra keeps them all).
const maxRefreshTokens = 20

// defaultRefreshInactive is Entra's refresh-token inactivity window.
const defaultRefreshInactive = 90 * 24 * time.Hour

// RefreshOutcome is the decision on a presented refresh token.
type RefreshOutcome int

const (
	RefreshOK           RefreshOutcome = iota
	RefreshInvalid                     // unknown or malformed: AADSTS9002313
	RefreshWrongClient                 // issued to another app: AADSTS70000
	RefreshExpired                     // inactive or expired by knob: AADSTS700082
	RefreshRevoked                     // before STSRefreshTokensValidFrom: AADSTS50173
	RefreshUserNotFound                // AADSTS50034
	RefreshUserLocked                  // AADSTS50053
	RefreshUserDisabled                // AADSTS50057
	RefreshBlockedByCA                 // AADSTS53003
)

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func (s *State) refreshInactive() time.Duration {
	if s.RefreshTokenMaxInactive > 0 {
		return time.Duration(s.RefreshTokenMaxInactive)
	}
	return defaultRefreshInactive
}

// IssueRefreshToken records and returns a new refresh token for u via a.
func (s *State) IssueRefreshToken(u *User, a *App, scopes []string, now time.Time) (string, error) {
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("tenant: refresh token: %w", err)
	}
	tok := "1.A" + base64.RawURLEncoding.EncodeToString(b)
	s.RefreshTokens = append(s.RefreshTokens, &RefreshToken{
		Hash: hashToken(tok), UPN: u.UPN, AppID: a.AppID, Scopes: slices.Clone(scopes),
		IssuedAt: now, LastUsed: now,
	})
	s.pruneRefreshTokens(u.UPN, a.AppID)
	return tok, nil
}

// pruneRefreshTokens keeps the most recently used maxRefreshTokens of one
// (user, app). Inactive tokens stay, so that they still answer AADSTS700082
// rather than "unknown".
func (s *State) pruneRefreshTokens(upn, appID string) {
	var mine []*RefreshToken
	for _, rt := range s.RefreshTokens {
		if strings.EqualFold(rt.UPN, upn) && strings.EqualFold(rt.AppID, appID) {
			mine = append(mine, rt)
		}
	}
	if len(mine) <= maxRefreshTokens {
		return
	}
	slices.SortFunc(mine, func(a, b *RefreshToken) int { return a.LastUsed.Compare(b.LastUsed) })
	drop := map[*RefreshToken]bool{}
	for _, rt := range mine[:len(mine)-maxRefreshTokens] {
		drop[rt] = true
	}
	s.RefreshTokens = slices.DeleteFunc(s.RefreshTokens, func(rt *RefreshToken) bool { return drop[rt] })
}

// RedeemRefreshToken checks a refresh token presented by appID. On
// RefreshOK the token's LastUsed is updated and its record and user are
// returned; the caller issues the new pair.
func (s *State) RedeemRefreshToken(tok, appID string, now time.Time) (*RefreshToken, *User, RefreshOutcome) {
	if tok == "" {
		return nil, nil, RefreshInvalid
	}
	h := hashToken(tok)
	i := slices.IndexFunc(s.RefreshTokens, func(rt *RefreshToken) bool { return rt.Hash == h })
	if i < 0 {
		return nil, nil, RefreshInvalid
	}
	rt := s.RefreshTokens[i]
	if !strings.EqualFold(rt.AppID, appID) {
		return rt, nil, RefreshWrongClient
	}
	if rt.Expired || now.Sub(rt.LastUsed) > s.refreshInactive() {
		return rt, nil, RefreshExpired
	}
	u := s.FindUser(rt.UPN)
	switch {
	case u == nil:
		return rt, nil, RefreshUserNotFound
	case !u.STSRefreshTokensValidFrom.IsZero() && rt.IssuedAt.Before(u.STSRefreshTokensValidFrom):
		return rt, u, RefreshRevoked
	case u.Locked:
		return rt, u, RefreshUserLocked
	case u.Disabled:
		return rt, u, RefreshUserDisabled
	case u.ConditionalAccessBlocked:
		return rt, u, RefreshBlockedByCA
	}
	rt.LastUsed = now
	return rt, u, RefreshOK
}

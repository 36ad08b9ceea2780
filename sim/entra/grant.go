package entra

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// tokenResponse is the success document of the token endpoint.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// request is one parsed token request.
type request struct {
	form       url.Values
	host       string
	tenantSeg  string
	clientID   string
	secret     string // from the body or HTTP Basic
	hasSecret  bool
	assertion  string
	assertType string
}

func (h *handler) now() time.Time {
	if h.t.Now != nil {
		return h.t.Now()
	}
	return time.Now()
}

func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	corr := r.Header.Get("client-request-id")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		writeError(w, r.Host, corr, now, errMalformedRequest())
		return
	}
	req := &request{
		form: r.PostForm, host: r.Host, tenantSeg: r.PathValue("tenant"),
		clientID:   r.PostForm.Get("client_id"),
		assertion:  r.PostForm.Get("client_assertion"),
		assertType: r.PostForm.Get("client_assertion_type"),
	}
	if _, ok := r.PostForm["client_secret"]; ok {
		req.secret, req.hasSecret = r.PostForm.Get("client_secret"), true
	}
	if u, p, ok := r.BasicAuth(); ok {
		// client_secret_basic: both parts are form-encoded (RFC 6749 §2.3.1).
		if id, err := url.QueryUnescape(u); err == nil {
			req.clientID = id
		}
		if sec, err := url.QueryUnescape(p); err == nil {
			req.secret, req.hasSecret = sec, true
		}
	}
	var (
		resp *tokenResponse
		aerr *aadError
	)
	ip := tenant.RemoteIP(remoteAddr(r.RemoteAddr))
	_ = h.t.Update(func(s *tenant.State) error {
		resp, aerr = h.grant(s, req, now)
		recordSignIn(s, req, ip, resp, aerr, now)
		return nil
	})
	gt := req.form.Get("grant_type")
	if aerr != nil {
		h.log.Info("entra: token refused", "grant_type", gt, "client_id", req.clientID, "code", aerr.code)
		writeError(w, r.Host, corr, now, aerr)
		return
	}
	h.log.Info("entra: token issued", "grant_type", gt, "client_id", req.clientID)
	writeJSON(w, http.StatusOK, resp)
}

func errMalformedRequest() *aadError {
	return newErr(400, "invalid_request", 9002313, "", "Invalid request. Request is malformed or invalid.")
}

// grant runs under the tenant lock. Order: tenant, grant type, client id,
// app, client credential, then the grant's own checks — Entra reports a
// wrong tenant before a wrong app, and a wrong app before a wrong secret.
func (h *handler) grant(s *tenant.State, req *request, now time.Time) (*tokenResponse, *aadError) {
	if resolve(s, req.tenantSeg) == "" {
		return nil, errTenantNotFound(req.tenantSeg)
	}
	gt := req.form.Get("grant_type")
	switch gt {
	case "":
		return nil, errInvalidRequestParam("grant_type")
	case "client_credentials", "password", "refresh_token":
	default:
		return nil, errUnsupportedGrant(gt)
	}
	if req.clientID == "" {
		return nil, errInvalidRequestParam("client_id")
	}
	app := s.FindApp(req.clientID)
	if app == nil {
		return nil, errAppNotFound(req.clientID, s.ID)
	}
	acr, aerr := h.authenticateClient(s, app, req, gt == "client_credentials", now)
	if aerr != nil {
		return nil, aerr
	}
	switch gt {
	case "client_credentials":
		return clientCredentials(s, app, acr, req, now)
	case "password":
		return password(s, app, acr, req, now)
	default:
		return refresh(s, app, acr, req, now)
	}
}

// authenticateClient checks the client credential and returns appidacr:
// "0" public client, "1" secret, "2" certificate. Client credentials need
// one; ROPC and refresh accept none from a public client.
func (h *handler) authenticateClient(s *tenant.State, app *tenant.App, req *request, confidentialOnly bool, now time.Time) (string, *aadError) {
	switch {
	case req.assertion != "" || req.assertType != "":
		if err := verifyAssertion(s, app, req, now); err != nil {
			return "", err
		}
		return "2", nil
	case req.hasSecret:
		return "1", checkSecret(app, req.secret, now)
	case confidentialOnly || !app.PublicClient:
		return "", errNoCredential()
	}
	return "0", nil
}

// checkSecret compares against every secret; a match on an expired one is
// AADSTS7000222, no match AADSTS7000215.
func checkSecret(app *tenant.App, secret string, now time.Time) *aadError {
	expired := false
	for _, sec := range app.Secrets {
		if subtle.ConstantTimeCompare([]byte(sec.Value), []byte(secret)) != 1 {
			continue
		}
		if sec.Expires.IsZero() || now.Before(sec.Expires) {
			return nil
		}
		expired = true
	}
	if expired {
		return errSecretExpired(app.AppID)
	}
	return errBadSecret(app.AppID)
}

func clientCredentials(s *tenant.State, app *tenant.App, acr string, req *request, now time.Time) (*tokenResponse, *aadError) {
	raw := req.form.Get("scope")
	if strings.TrimSpace(raw) == "" {
		return nil, errInvalidRequestParam("scope")
	}
	sc, aerr := parseScopes(raw)
	if aerr != nil {
		return nil, aerr
	}
	// Which of 70011 and 1002012 Entra picks for a delegated scope in
	// client credentials is inferred from the two captured texts: a bare
	// permission name (Mail.Send) gets 1002012, a resource-qualified one
	// (https://outlook.office.com/IMAP.AccessAsUser.All) 70011.
	for _, p := range sc.items {
		if p.bare {
			return nil, errScopeNeedsDefault(p.raw)
		}
	}
	if len(sc.items) == 0 || slices.ContainsFunc(sc.items, func(p scopeItem) bool { return p.perm != ".default" }) {
		return nil, errScopeInvalid(raw)
	}
	if !knownResource(sc.resource) {
		return nil, errResourceNotFound(sc.resource, s.ID)
	}
	tok, err := s.MintAppToken(app, sc.resource, acr, now)
	if err != nil {
		return nil, errInternal()
	}
	return &tokenResponse{
		TokenType: "Bearer", ExpiresIn: int(tenant.AccessTokenLifetime/time.Second) - 1,
		ExtExpiresIn: int(tenant.AccessTokenLifetime/time.Second) - 1, AccessToken: tok,
	}, nil
}

func errInternal() *aadError {
	return newErr(500, "temporarily_unavailable", 90033, "", "A transient error has occurred. Please try again.")
}

func password(s *tenant.State, app *tenant.App, acr string, req *request, now time.Time) (*tokenResponse, *aadError) {
	user, pw := req.form.Get("username"), req.form.Get("password")
	if user == "" {
		return nil, errInvalidRequestParam("username")
	}
	if pw == "" {
		return nil, errInvalidRequestParam("password")
	}
	raw := req.form.Get("scope")
	if strings.TrimSpace(raw) == "" {
		return nil, errInvalidRequestParam("scope")
	}
	sc, aerr := parseDelegated(s, app, raw)
	if aerr != nil {
		return nil, aerr
	}
	out, u := s.PasswordSignIn(user, pw, now)
	switch out {
	case tenant.SignInOK:
	case tenant.SignInUnknownUser:
		return nil, errUserNotFound(s.ID)
	case tenant.SignInBadPassword:
		return nil, errBadPassword()
	case tenant.SignInLocked:
		return nil, errLocked()
	case tenant.SignInDisabled:
		return nil, errDisabled()
	case tenant.SignInSecurityDefaults:
		return nil, errSecurityDefaults()
	case tenant.SignInConditionalAccess:
		return nil, errConditionalAccess()
	case tenant.SignInMFARequired:
		return nil, errMFA()
	case tenant.SignInMFARegistration:
		return nil, errMFARegistration()
	}
	return userTokens(s, app, u, acr, sc, req, now)
}

func refresh(s *tenant.State, app *tenant.App, acr string, req *request, now time.Time) (*tokenResponse, *aadError) {
	rtok := req.form.Get("refresh_token")
	if rtok == "" {
		return nil, errInvalidRequestParam("refresh_token")
	}
	rt, u, out := s.RedeemRefreshToken(rtok, app.AppID, now)
	switch out {
	case tenant.RefreshOK:
	case tenant.RefreshInvalid:
		return nil, errMalformedGrant()
	case tenant.RefreshWrongClient:
		return nil, errGrantOtherClient()
	case tenant.RefreshExpired:
		return nil, errRefreshInactive(rt.IssuedAt, rt.LastUsed, now)
	case tenant.RefreshRevoked:
		return nil, errRefreshRevoked(rt.IssuedAt, u.STSRefreshTokensValidFrom)
	case tenant.RefreshUserNotFound:
		return nil, errUserNotFound(s.ID)
	case tenant.RefreshUserLocked:
		return nil, errLocked()
	case tenant.RefreshUserDisabled:
		return nil, errDisabled()
	case tenant.RefreshBlockedByCA:
		return nil, errConditionalAccess()
	}
	raw := req.form.Get("scope")
	if strings.TrimSpace(raw) == "" {
		// x/oauth2 sends no scope on refresh: the grant's scopes apply.
		raw = strings.Join(rt.Scopes, " ")
	}
	sc, aerr := parseDelegated(s, app, raw)
	if aerr != nil {
		return nil, aerr
	}
	return userTokens(s, app, u, acr, sc, req, now)
}

// userTokens issues the access token, and the refresh token (Entra returns
// one on every refresh, and on ROPC when offline_access is asked for), id
// token (openid) and client_info (client_info=1, MSAL).
func userTokens(s *tenant.State, app *tenant.App, u *tenant.User, acr string, sc *scopes, req *request, now time.Time) (*tokenResponse, *aadError) {
	at, err := s.MintUserToken(app, u, sc.resource, acr, now)
	if err != nil {
		return nil, errInternal()
	}
	life := int(tenant.AccessTokenLifetime/time.Second) - 1
	resp := &tokenResponse{TokenType: "Bearer", Scope: sc.granted(app), ExpiresIn: life, ExtExpiresIn: life, AccessToken: at}
	if sc.has("offline_access") || req.form.Get("grant_type") == "refresh_token" {
		if resp.RefreshToken, err = s.IssueRefreshToken(u, app, sc.all, now); err != nil {
			return nil, errInternal()
		}
	}
	if sc.has("openid") {
		resp.IDToken, err = s.SignJWT(map[string]any{
			"aud": app.AppID, "iss": "https://" + req.host + "/" + s.ID + "/v2.0",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(tenant.AccessTokenLifetime).Unix(),
			"name": u.DisplayName, "oid": u.ObjectID, "preferred_username": u.UPN,
			"sub": u.ObjectID, "tid": s.ID, "ver": "2.0",
		})
		if err != nil {
			return nil, errInternal()
		}
	}
	if req.form.Get("client_info") == "1" {
		b, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": s.ID})
		resp.ClientInfo = base64.RawURLEncoding.EncodeToString(b)
	}
	return resp, nil
}

// remoteAddr wraps http.Request.RemoteAddr ("ip:port") as a net.Addr.
type remoteAddr string

func (remoteAddr) Network() string  { return "tcp" }
func (a remoteAddr) String() string { return string(a) }

// recordSignIn writes the sign-in log row of a token request this tenant
// decided (tenant-api.md §5.7): not for another tenant, an unknown grant
// type or a request without a client id, which Entra refuses before it
// knows whom to log (inferred).
func recordSignIn(s *tenant.State, req *request, ip string, resp *tokenResponse, aerr *aadError, now time.Time) {
	gt := req.form.Get("grant_type")
	switch {
	case resolve(s, req.tenantSeg) == "", req.clientID == "":
		return
	case gt != "client_credentials" && gt != "password" && gt != "refresh_token":
		return
	}
	ts := tenant.TokenSignIn{GrantType: gt, AppID: req.clientID, UPN: req.form.Get("username"), IP: ip}
	if sc, err := parseScopes(req.form.Get("scope")); err == nil {
		ts.Resource = sc.resource
	}
	app := s.FindApp(req.clientID)
	switch {
	case req.assertion != "":
		ts.CredentialType = "certificate"
		if app != nil {
			if c := assertionCertificate(app, req.assertion); c != nil {
				ts.CredentialKeyID, ts.CredentialThumbprint = c.KeyIDOf(), certThumbprintHex(c)
			}
		}
	case req.hasSecret:
		ts.CredentialType = "clientSecret"
		if app != nil {
			ts.CredentialKeyID = app.SecretKeyID(req.secret)
		}
	}
	if gt == "refresh_token" && resp != nil && resp.AccessToken != "" {
		if c, err := s.VerifyAccessToken(resp.AccessToken, now); err == nil {
			ts.UPN, ts.Resource = c.UPN, c.Aud
		}
	}
	if gt == "password" && aerr == nil && resp != nil {
		if c, err := s.VerifyAccessToken(resp.AccessToken, now); err == nil {
			ts.Resource = c.Aud
		}
	}
	if aerr != nil {
		ts.ErrorCode, ts.Reason = aerr.code, aerr.desc
		// Which refusals Conditional Access decided, for the row's CA
		// fields (tenant-api.md §5.5).
		switch aerr.code {
		case 53003:
			ts.Outcome = tenant.SignInConditionalAccess
		case 530035:
			ts.Outcome = tenant.SignInSecurityDefaults
		case 50076:
			ts.Outcome = tenant.SignInMFARequired
		case 50079:
			ts.Outcome = tenant.SignInMFARegistration
		default:
			ts.Outcome = tenant.SignInBadPassword
		}
	}
	s.RecordTokenSignIn(ts, now)
}

// assertionCertificate is the app certificate a client assertion names in
// its header (x5t or x5t#S256), whether or not the assertion verifies.
func assertionCertificate(app *tenant.App, assertion string) *tenant.Certificate {
	h, _, _ := strings.Cut(assertion, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil
	}
	var hdr struct {
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return nil
	}
	c, _ := app.FindCertificate(hdr.X5t, hdr.X5tS256)
	return c
}

// certThumbprintHex is the SHA-1 thumbprint in upper-case hex, as Entra
// shows thumbprints.
func certThumbprintHex(c *tenant.Certificate) string {
	b, err := base64.RawURLEncoding.DecodeString(c.Thumbprint)
	if err != nil {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

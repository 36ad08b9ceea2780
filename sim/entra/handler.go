// Package entra is the emulator's Microsoft Entra ID token endpoint: the
// v2.0 token endpoint (client credentials with a secret or a certificate
// assertion, ROPC, refresh tokens), the OpenID configuration and the JWKS of
// one emulated tenant, answering errors in Entra's JSON shape with the
// AADSTS codes clients meet in front of Exchange Online.
//
// Decisions about users, apps and tokens are the tenant package's; this
// package speaks HTTP and OAuth.
package entra

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// maxForm bounds a token request body.
const maxForm = 64 << 10

type handler struct {
	t   *tenant.Tenant
	log *slog.Logger
}

// Handler serves the tenant's Entra endpoints:
//
//	POST /{tenant}/oauth2/v2.0/token
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	GET  /{tenant}/discovery/v2.0/keys
//	GET  /common/UserRealm/{user}   (MSAL's realm discovery before ROPC)
//
// {tenant} is the tenant id or any of its domains ("organizations" is
// accepted too, as Entra routes work accounts by it). URLs in responses are
// built from the request's Host with https, so the handler must be served
// over TLS.
func Handler(t *tenant.Tenant) http.Handler {
	return HandlerWithLogger(t, slog.Default())
}

// HandlerWithLogger is Handler with an explicit logger. It logs outcomes
// (grant, client id, AADSTS code), never credentials.
func HandlerWithLogger(t *tenant.Tenant, log *slog.Logger) http.Handler {
	h := &handler{t: t, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", h.token)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", h.openIDConfig)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", h.keys)
	// MSAL asks the user realm before ROPC.
	mux.HandleFunc("GET /common/UserRealm/{user}", h.userRealm)
	mux.HandleFunc("GET /common/userrealm/{user}", h.userRealm)
	return mux
}

// userRealm answers MSAL's home-realm discovery: this tenant's domains are
// managed (cloud passwords), anything else unknown.
func (h *handler) userRealm(w http.ResponseWriter, r *http.Request) {
	_, domain, _ := strings.Cut(r.PathValue("user"), "@")
	managed := false
	h.t.View(func(s *tenant.State) { managed = s.HasDomain(domain) })
	body := map[string]string{"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"}
	if managed {
		body["account_type"], body["domain_name"] = "Managed", strings.ToLower(domain)
		body["cloud_audience_urn"] = "urn:federation:MicrosoftOnline"
	}
	writeJSON(w, http.StatusOK, body)
}

// resolve maps the {tenant} path segment to the tenant, or "" when it is
// not this tenant.
func resolve(s *tenant.State, seg string) string {
	if strings.EqualFold(seg, s.ID) || strings.EqualFold(seg, "organizations") || s.HasDomain(seg) {
		return s.ID
	}
	return ""
}

func (h *handler) openIDConfig(w http.ResponseWriter, r *http.Request) {
	var tid, name string
	h.t.View(func(s *tenant.State) { tid, name = resolve(s, r.PathValue("tenant")), s.Name })
	if tid == "" {
		writeError(w, r.Host, r.Header.Get("client-request-id"), h.now(), errTenantNotFound(r.PathValue("tenant")))
		return
	}
	base := "https://" + r.Host + "/" + tid
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
			"cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
			"preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"tenant_region_scope":   "EU",
		"cloud_instance_name":   "microsoftonline.com",
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          "graph.microsoft.com",
		"x_exoprobe_tenant":     name,
	})
}

func (h *handler) keys(w http.ResponseWriter, r *http.Request) {
	var (
		tid  string
		jwks any
		err  error
	)
	_ = h.t.Update(func(s *tenant.State) error {
		if tid = resolve(s, r.PathValue("tenant")); tid != "" {
			jwks, err = s.JWKS()
		}
		return nil
	})
	switch {
	case tid == "":
		writeError(w, r.Host, r.Header.Get("client-request-id"), h.now(), errTenantNotFound(r.PathValue("tenant")))
	case err != nil:
		h.log.Error("entra: jwks", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		writeJSON(w, http.StatusOK, jwks)
	}
}

// newID returns a random GUID for trace and correlation ids.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

package entra

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// aadError is one token-endpoint refusal. Descriptions follow Entra's
// wording (exo-responses.md §3, entra-docs reference-error-codes); they
// name apps, scopes and tenants but never a secret, password or token.
type aadError struct {
	status   int
	err      string // the OAuth "error" field
	code     int
	desc     string // without the "AADSTSnnn: " prefix and trailer
	suberror string
}

func newErr(status int, oauthErr string, code int, suberror, format string, a ...any) *aadError {
	return &aadError{status: status, err: oauthErr, code: code, suberror: suberror, desc: fmt.Sprintf(format, a...)}
}

func (e *aadError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.code, e.desc) }

// Constructors, one per code the emulator answers.
func errInvalidRequestParam(name string) *aadError {
	return newErr(400, "invalid_request", 900144, "", "The request body must contain the following parameter: '%s'.", name)
}
func errUnsupportedGrant(gt string) *aadError {
	return newErr(400, "unsupported_grant_type", 70003, "", "The app requested an unsupported grant type '%s'.", gt)
}
func errTenantNotFound(t string) *aadError {
	return newErr(400, "invalid_request", 90002, "", "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t)
}
func errAppNotFound(appID, tenant string) *aadError {
	return newErr(400, "unauthorized_client", 700016, "", "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", appID, tenant)
}
func errBadSecret(appID string) *aadError {
	return newErr(401, "invalid_client", 7000215, "", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", appID)
}
func errSecretExpired(appID string) *aadError {
	return newErr(401, "invalid_client", 7000222, "", "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", appID)
}
func errNoCredential() *aadError {
	return newErr(401, "invalid_client", 7000218, "", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}
func errAssertion(code int, format string, a ...any) *aadError {
	return newErr(401, "invalid_client", code, "", format, a...)
}
func errScopeInvalid(scope string) *aadError {
	return newErr(400, "invalid_scope", 70011, "", "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope)
}
func errScopeNeedsDefault(scope string) *aadError {
	return newErr(400, "invalid_scope", 1002012, "", "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
}
func errMultipleResources(scope string) *aadError {
	return newErr(400, "invalid_scope", 28000, "", "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
}
func errResourceNotFound(res, tenant string) *aadError {
	return newErr(400, "invalid_resource", 500011, "", "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res, tenant)
}
func errConsent(appID, appName string) *aadError {
	return newErr(400, "invalid_grant", 65001, "consent_required", "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", appID, appName)
}
func errBadPassword() *aadError {
	return newErr(400, "invalid_grant", 50126, "", "Error validating credentials due to invalid username or password.")
}
func errUserNotFound(tenantID string) *aadError {
	return newErr(400, "invalid_grant", 50034, "", "The user account {EUII Hidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", tenantID)
}
func errLocked() *aadError {
	return newErr(400, "invalid_grant", 50053, "", "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.")
}
func errDisabled() *aadError {
	return newErr(400, "invalid_grant", 50057, "", "The user account is disabled.")
}
func errMFA() *aadError {
	return newErr(400, "invalid_grant", 50076, "basic_action", "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'.")
}
func errMFARegistration() *aadError {
	return newErr(400, "invalid_grant", 50079, "", "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'.")
}

// errSecurityDefaults: Entra documents 530035 (BlockedBySecurityDefaults);
// that ROPC gets it (rather than 50076) is inferred.
func errSecurityDefaults() *aadError {
	return newErr(400, "invalid_grant", 530035, "", "Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies.")
}
func errConditionalAccess() *aadError {
	return newErr(400, "invalid_grant", 53003, "", "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.")
}
func errRefreshInactive(issued, lastUsed, now time.Time) *aadError {
	return newErr(400, "invalid_grant", 700082, "", "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", issued.UTC().Format(time.RFC3339Nano), now.Sub(lastUsed).Truncate(time.Second))
}
func errRefreshRevoked(issued, validFrom time.Time) *aadError {
	return newErr(400, "invalid_grant", 50173, "", "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.", issued.UTC().Format(time.RFC3339Nano), validFrom.UTC().Format(time.RFC3339))
}
func errMalformedGrant() *aadError {
	return newErr(400, "invalid_grant", 9002313, "", "Invalid request. Request is malformed or invalid.")
}
func errGrantOtherClient() *aadError {
	return newErr(400, "invalid_grant", 70000, "", "Provided grant is invalid or malformed.")
}

// errorBody is Entra's JSON error document.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	Suberror         string `json:"suberror,omitempty"`
}

// writeError sends e in Entra's shape; correlation is the client's
// client-request-id when it sent one, as Entra echoes it.
func writeError(w http.ResponseWriter, host, correlation string, now time.Time, e *aadError) {
	trace := newID()
	if correlation == "" {
		correlation = newID()
	}
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	body := errorBody{
		Error: e.err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.desc, trace, correlation, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: correlation,
		ErrorURI:      "https://" + host + "/error?code=" + strconv.Itoa(e.code),
		Suberror:      e.suberror,
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package graph

import (
	"fmt"
	"net/http"
)

// apiError is one Graph refusal, sent in the envelope of tenant-api.md
// §2.3: {"error":{"code","message","innerError":{"date","request-id",
// "client-request-id"}}}. Clients must branch on code, never on message
// (§2.3, quoting errors.md).
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

// errToken: 401 InvalidAuthenticationToken (§2.4).
func errToken(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", msg: msg}
}

// errDenied: 403 for a missing permission, the 2026 live body of §2.3.
func errDenied() *apiError {
	return &apiError{status: http.StatusForbidden, code: "Authorization_RequestDenied",
		msg: "Insufficient privileges to complete the operation."}
}

// errAuditPermission: the audit logs' own 403 without AuditLog.Read.All
// (§2.4, message as the AzureAD module surfaced it, FS:35202875945).
func errAuditPermission() *apiError {
	return &apiError{status: http.StatusForbidden, code: "Authentication_MSGraphPermissionMissing",
		msg: "Application missing MSGraph API 'Read all audit log data' permission"}
}

// errLicense: sign-in logs without Entra ID P1/P2 (§2.5); two message
// texts exist in the wild, chosen by Set-SimTenant -LicenseErrorText.
func errLicense(newText bool) *apiError {
	msg := "Neither tenant is B2C or tenant doesn't have premium license"
	if newText {
		msg = "Tenant is not a B2C tenant and doesn't have premium license"
	}
	return &apiError{status: http.StatusForbidden, code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant", msg: msg}
}

// errNotFound: 404 Request_ResourceNotFound (§10; code seen in code, the
// message text is unconfirmed — Graph's usual wording, inferred).
func errNotFound(id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "Request_ResourceNotFound",
		msg: fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}
}

// errNotFoundSegment: an unknown path (Graph's OData wording; inferred).
func errNotFoundSegment(seg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadRequest",
		msg: fmt.Sprintf("Resource not found for the segment '%s'.", seg)}
}

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "BadRequest", msg: msg}
}

// errNoProperty: 400 for a property the type lacks (§2.4, live 2026:
// "Could not find a property named 'signInEventTypes' on type
// 'microsoft.graph.signIn'").
func errNoProperty(name, typ string) *apiError {
	return badRequest(fmt.Sprintf("Could not find a property named '%s' on type '%s'.", name, typ))
}

// graphDate is innerError.date: UTC without a zone letter (§2.3 live body
// "2026-07-14T00:17:15").
const graphDate = "2006-01-02T15:04:05"

func (c *call) fail(e *apiError) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(e.status)
	_ = jsonEncode(c.w, obj{{"error", obj{
		{"code", e.code},
		{"message", e.msg},
		{"innerError", obj{
			{"date", c.now.UTC().Format(graphDate)},
			{"request-id", c.requestID},
			{"client-request-id", c.clientReq},
		}},
	}}})
}

// throttled sends the 429 of §2.6 verbatim in shape ("Please retry again
// later.", innerError with code/status "429"), with Retry-After when the
// workload sends one.
func (c *call) throttled(retryAfter string) {
	if retryAfter != "" {
		c.w.Header().Set("Retry-After", retryAfter)
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusTooManyRequests)
	_ = jsonEncode(c.w, obj{{"error", obj{
		{"code", "TooManyRequests"},
		{"innerError", obj{
			{"code", "429"},
			{"date", c.now.UTC().Format(graphDate)},
			{"message", "Please retry after"},
			{"request-id", c.requestID},
			{"status", "429"},
		}},
		{"message", "Please retry again later."},
	}}})
}

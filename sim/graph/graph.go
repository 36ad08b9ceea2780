// Package graph is the emulator's Microsoft Graph: the read-only tenant
// reads of ../shared/tenant-api.md (security defaults §3, Conditional
// Access §4, sign-in logs §5, applications and service principals §6),
// served from the emulated tenant with Graph's JSON, OData paging
// (@odata.nextLink), error envelope (§2.3), permissions from the token's
// roles claim (§1.4), the sign-in log's licence check (§2.5) and a
// throttling knob (§2.6).
//
// Routes (both /v1.0 and /beta unless noted):
//
//	GET /policies/identitySecurityDefaultsEnforcementPolicy
//	GET /identity/conditionalAccess/policies
//	GET /auditLogs/signIns, /auditLogs/signIns/{id}
//	GET /applications, /applications/{id}, /applications(appId='{appId}')
//	GET /servicePrincipals, /servicePrincipals/{id}, /servicePrincipals(appId='{appId}'),
//	    /servicePrincipals/{id}/appRoleAssignments
//	GET /users/{id or userPrincipalName}
package graph

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

type handler struct {
	t   *tenant.Tenant
	log *slog.Logger

	mu     sync.Mutex
	recent map[string][]time.Time // budget key → request times in the window
}

// Handler serves Graph under /v1.0/ and /beta/. URLs in responses
// (@odata.context, @odata.nextLink) are built from the request's Host with
// https, so it must be served over TLS.
func Handler(t *tenant.Tenant, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{t: t, log: log, recent: map[string][]time.Time{}}
}

// call is one request in flight.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	ver       string // "v1.0" or "beta"
	segs      []string
	base      string // https://host/v1.0
	requestID string
	clientReq string
	now       time.Time
	claims    *tenant.Claims
}

func (h *handler) now() time.Time {
	if h.t.Now != nil {
		return h.t.Now()
	}
	return time.Now()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, now: h.now(), requestID: newID(), clientReq: r.Header.Get("client-request-id")}
	if c.clientReq == "" {
		c.clientReq = c.requestID
	}
	// Graph answers with both ids (tenant-api.md §10: "echo
	// request-id/client-request-id headers").
	w.Header().Set("request-id", c.requestID)
	w.Header().Set("client-request-id", c.clientReq)
	p := strings.Trim(r.URL.Path, "/")
	ver, rest, _ := strings.Cut(p, "/")
	if ver != "v1.0" && ver != "beta" {
		c.fail(errNotFoundSegment(ver))
		return
	}
	c.ver, c.base = ver, "https://"+r.Host+"/"+ver
	for _, s := range strings.Split(rest, "/") {
		if s != "" {
			c.segs = append(c.segs, s)
		}
	}
	if r.Method != http.MethodGet {
		// The emulator's Graph is read-only (tenant-api.md: "Nothing here
		// writes to a tenant").
		w.Header().Set("Allow", "GET")
		c.fail(&apiError{status: http.StatusMethodNotAllowed, code: "Request_BadRequest",
			msg: "The emulator's Microsoft Graph is read-only: only GET is served."})
		return
	}
	if h.t.TakeUnavailable("graph") {
		// Code inferred (Graph's errors.md lists 503 as transient; the
		// body's code is not in tenant-api.md).
		c.fail(&apiError{status: http.StatusServiceUnavailable, code: "serviceNotAvailable",
			msg: "The service is temporarily unavailable. Please retry later."})
		return
	}
	route, aerr := h.route(c)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	claims, aerr := h.authenticate(r, c.now)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.claims = claims
	if hit, ra := h.t.TakeThrottle("graph"); hit {
		if !route.retryAfter {
			ra = ""
		}
		c.throttled(ra)
		return
	}
	if !h.withinBudget(route.budget, claims.AppID, c.now) {
		// Neither workload reliably sends Retry-After (§2.6).
		c.throttled("")
		return
	}
	if !slices.ContainsFunc(route.perms, claims.HasRole) {
		e := errDenied()
		if route.permErr != nil {
			e = route.permErr()
		}
		h.log.Info("graph: denied", "path", r.URL.Path, "app", claims.AppID)
		c.fail(e)
		return
	}
	route.serve(h, c)
}

// route is one resource: who may read it and how it is served.
type route struct {
	perms   []string // any of these roles
	permErr func() *apiError
	// budget: the workload's published limit (§2.6), enforced when
	// Set-SimTenant -GraphBudgets is on; zero for none.
	budget budget
	// retryAfter: whether its workload sends Retry-After on 429. The
	// Conditional Access workload does not (tenant-api.md §2.6: "don't
	// return a Retry-After header").
	retryAfter bool
	serve      func(h *handler, c *call)
}

// Permissions per route, least privileged first (tenant-api.md §0, §3,
// §4.1, §5.1, §6.1, §6.2).
var (
	permSecurityDefaults = []string{"Policy.Read.All", "Policy.ReadWrite.SecurityDefaults"}
	permCA               = []string{"Policy.Read.All"}
	permSignIns          = []string{"AuditLog.Read.All", "Directory.Read.All"}
	permApplications     = []string{"Application.Read.All", "Application.ReadWrite.All"}
	permSPs              = []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	// G8 (§0): "User.Read.All (covered by Directory.Read.All)".
	permUsers = []string{"User.Read.All", "Directory.Read.All"}
)

func (h *handler) route(c *call) (*route, *apiError) {
	s := c.segs
	at := func(i int) string {
		if i < len(s) {
			return s[i]
		}
		return ""
	}
	switch {
	case len(s) == 2 && at(0) == "policies" && at(1) == "identitySecurityDefaultsEnforcementPolicy":
		return &route{perms: permSecurityDefaults, retryAfter: true, serve: (*handler).securityDefaults}, nil
	case len(s) == 3 && at(0) == "identity" && at(1) == "conditionalAccess" && at(2) == "policies":
		return &route{perms: permCA, serve: (*handler).caPolicies, budget: budgetCA}, nil
	case (len(s) == 2 || len(s) == 3) && at(0) == "auditLogs" && at(1) == "signIns":
		return &route{perms: permSignIns, permErr: errAuditPermission, retryAfter: true, serve: (*handler).signIns, budget: budgetReports}, nil
	case len(s) <= 2 && keyed(at(0), "applications"):
		return &route{perms: permApplications, retryAfter: true, serve: (*handler).applications}, nil
	case len(s) <= 2 && keyed(at(0), "servicePrincipals"),
		len(s) == 3 && keyed(at(0), "servicePrincipals") && at(2) == "appRoleAssignments":
		return &route{perms: permSPs, retryAfter: true, serve: (*handler).servicePrincipals}, nil
	case len(s) == 2 && at(0) == "users":
		return &route{perms: permUsers, retryAfter: true, serve: (*handler).user}, nil
	}
	if len(s) == 0 {
		return nil, errNotFoundSegment(c.ver)
	}
	return nil, errNotFoundSegment(s[len(s)-1])
}

// keyed matches "applications" and "applications(appId='…')".
func keyed(seg, coll string) bool {
	return seg == coll || strings.HasPrefix(seg, coll+"(")
}

// authenticate checks the bearer token: this tenant's signature, lifetime,
// and a Graph audience (tenant-api.md §10: "Validate Authorization and the
// token aud; 401 InvalidAuthenticationToken otherwise").
func (h *handler) authenticate(r *http.Request, now time.Time) (*tenant.Claims, *apiError) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, errToken("Access token is empty.")
	}
	var c *tenant.Claims
	var err error
	_ = h.t.Update(func(s *tenant.State) error { c, err = s.VerifyAccessToken(tok, now); return nil })
	switch {
	case err == tenant.ErrTokenMalformed:
		return nil, errToken("CompactToken parsing failed with error code: 80049217")
	case err == tenant.ErrTokenExpired:
		// Inferred text: Graph's own wording, not in tenant-api.md.
		return nil, errToken("Lifetime validation failed, the token is expired.")
	case err != nil:
		return nil, errToken("Access token validation failure.") // inferred text
	case !tenant.IsGraphResource(c.Aud):
		return nil, errToken("Access token validation failure. Invalid audience.") // inferred text
	}
	return c, nil
}

// query reads $top (1..max, default def), $select and $skiptoken.
func (c *call) query() url.Values { return c.r.URL.Query() }

func (c *call) selectList() []string {
	v := c.query().Get("$select")
	if v == "" {
		return nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *call) top(def, max int) (int, *apiError) {
	v := c.query().Get("$top")
	if v == "" {
		return def, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v || n < 1 || n > max {
		// Inferred text; tenant-api.md §5.1 gives the range ("The maximum
		// and default page size is 1,000 objects").
		return 0, badRequest(fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, max))
	}
	return n, nil
}

// writeJSON sends a 200 with Graph's content type.
func (c *call) ok(v any) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(c.w).Encode(v)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// budget is a request limit per window; perApp keys it by the calling app
// as well as the tenant.
type budget struct {
	name   string
	n      int
	window time.Duration
	perApp bool
}

// Published limits (tenant-api.md §2.6): identity and access reports "Five
// requests per 10 seconds" per app per tenant; conditional access "One
// request per second" per tenant for all apps.
var (
	budgetReports = budget{name: "reports", n: 5, window: 10 * time.Second, perApp: true}
	budgetCA      = budget{name: "ca", n: 1, window: time.Second}
)

// withinBudget records a request against b and reports whether it fits.
func (h *handler) withinBudget(b budget, appID string, now time.Time) bool {
	if b.n == 0 {
		return true
	}
	var on bool
	h.t.View(func(s *tenant.State) { on = s.API.GraphBudgets })
	if !on {
		return true
	}
	key := b.name
	if b.perApp {
		key += "/" + strings.ToLower(appID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	times := h.recent[key]
	keep := times[:0]
	for _, t := range times {
		if now.Sub(t) < b.window {
			keep = append(keep, t)
		}
	}
	if len(keep) >= b.n {
		h.recent[key] = keep
		return false
	}
	h.recent[key] = append(keep, now)
	return true
}

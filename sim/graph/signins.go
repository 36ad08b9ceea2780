package graph

import (
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// signIns serves /auditLogs/signIns (tenant-api.md §5): licence check
// (§2.5), $filter (filter.go), $orderby createdDateTime, $top ≤ 1000
// (default 1000, §2.2), paging by @odata.nextLink with a snapshot in the
// $skiptoken so that rows arriving between pages do not shift them, and
// the log's visibility delay (§5.8, Set-SimTenant -SignInLogDelay).
//
// Default scope: v1.0, and beta without a signInEventTypes filter, return
// interactive user rows only (§5.1: "Only interactive sign-ins are returned
// unless you set an explicit filter").
func (h *handler) signIns(c *call) {
	var premium, newText bool
	_ = h.t.Update(func(s *tenant.State) error {
		premium, newText = s.HasPremium(), s.LicenseErrorText == "new"
		if premium && !c.claims.HasRole("Directory.Read.All") && s.FlakyLicenseCheck() {
			premium = false
		}
		return nil
	})
	if !premium {
		c.fail(errLicense(newText))
		return
	}
	asOf := c.now
	if st := c.query().Get("$skiptoken"); st != "" {
		tok, ok := parseSkiptoken(st)
		if !ok {
			c.fail(badRequest("Invalid $skiptoken value.")) // inferred text
			return
		}
		asOf = tok.asOf
	}
	var rows []tenant.SignIn
	h.t.View(func(s *tenant.State) { rows = s.VisibleSignIns(asOf) })
	beta := c.ver == "beta"

	if len(c.segs) == 3 {
		for i := range rows {
			if rows[i].ID == c.segs[2] && (beta || rows[i].EventType == tenant.EventInteractiveUser) {
				c.entity("auditLogs/signIns/$entity", "microsoft.graph.signIn", signInObj(&rows[i], beta))
				return
			}
		}
		c.fail(errNotFound(c.segs[2]))
		return
	}

	var f pred
	eventFilter := false
	if fs := c.query().Get("$filter"); fs != "" {
		var aerr *apiError
		if f, eventFilter, aerr = parseFilter(fs, beta); aerr != nil {
			c.fail(aerr)
			return
		}
	}
	switch ob := strings.Join(strings.Fields(c.query().Get("$orderby")), " "); ob {
	case "", "createdDateTime desc", "createdDateTime":
		if ob == "createdDateTime" {
			reverse(rows) // OData's default direction is ascending
		}
	case "createdDateTime asc":
		reverse(rows)
	default:
		// §5.1: $orderby is supported on createdDateTime.
		c.fail(badRequest("Invalid $orderby: only createdDateTime (asc or desc) is supported.")) // inferred text
		return
	}
	var items []obj
	for i := range rows {
		r := &rows[i]
		if !eventFilter && r.EventType != tenant.EventInteractiveUser {
			continue
		}
		if f != nil && !f(r) {
			continue
		}
		items = append(items, signInObj(r, beta))
	}
	c.page("auditLogs/signIns", "microsoft.graph.signIn", items, asOf, 1000, 1000)
}

func reverse(rows []tenant.SignIn) {
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
}

// signInObj renders a row with the v1.0 field set of §5.2, in the order of
// the doc example (§5.6); beta adds its own fields. Risk fields are "none"
// (the emulator has no Identity Protection); device and location are
// unknown for a mail client (nulls, as the doc example's shape allows).
func signInObj(r *tenant.SignIn, beta bool) obj {
	ca := []obj{}
	for _, p := range r.AppliedCA {
		ca = append(ca, obj{
			{"id", p.ID},
			{"displayName", p.DisplayName},
			{"enforcedGrantControls", list(p.EnforcedGrantControls)},
			{"enforcedSessionControls", list(p.EnforcedSessionCtrls)},
			{"result", p.Result},
		})
	}
	o := obj{
		{"id", r.ID},
		{"createdDateTime", graphTime(r.CreatedDateTime)},
		{"userDisplayName", strOrNil(r.UserDisplayName)},
		{"userPrincipalName", r.UserPrincipalName},
		{"userId", r.UserID},
		{"appId", r.AppID},
		{"appDisplayName", r.AppDisplayName},
		{"ipAddress", r.IPAddress},
		{"clientAppUsed", r.ClientAppUsed},
		{"correlationId", r.CorrelationID},
		{"conditionalAccessStatus", r.ConditionalAccessStatus},
		{"isInteractive", r.IsInteractive},
		{"riskDetail", "none"},
		{"riskLevelAggregated", "none"},
		{"riskLevelDuringSignIn", "none"},
		{"riskState", "none"},
		{"riskEventTypes", []string{}},
		{"riskEventTypes_v2", []string{}},
		{"resourceDisplayName", r.ResourceDisplayName},
		{"resourceId", r.ResourceID},
		{"status", obj{
			{"errorCode", r.ErrorCode},
			{"failureReason", strOrNil(r.FailureReason)},
			{"additionalDetails", nil},
		}},
		{"deviceDetail", obj{
			{"deviceId", ""}, {"displayName", nil}, {"operatingSystem", nil}, {"browser", nil},
			{"isCompliant", nil}, {"isManaged", nil}, {"trustType", nil},
		}},
		{"location", obj{
			{"city", nil}, {"state", nil}, {"countryOrRegion", nil},
			{"geoCoordinates", obj{{"altitude", nil}, {"latitude", nil}, {"longitude", nil}}},
		}},
		{"appliedConditionalAccessPolicies", ca},
	}
	if !beta {
		return o
	}
	req := "singleFactorAuthentication" // §5.2: primary-auth failures and legacy clients
	return append(o,
		kv{"signInEventTypes", []string{r.EventType}},
		kv{"servicePrincipalId", r.ServicePrincipalID},
		kv{"servicePrincipalName", r.ServicePrincipalName},
		kv{"clientCredentialType", strOrDefault(r.ClientCredentialType, "none")},
		kv{"servicePrincipalCredentialKeyId", r.CredentialKeyID},
		kv{"servicePrincipalCredentialThumbprint", r.CredentialThumbprint},
		kv{"authenticationProtocol", strOrDefault(r.AuthenticationProtocol, "none")},
		kv{"authenticationRequirement", req},
		kv{"authenticationRequirementPolicies", []obj{}},
		kv{"userAgent", ""},
		kv{"tokenIssuerType", "AzureAD"},
	)
}

func strOrDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

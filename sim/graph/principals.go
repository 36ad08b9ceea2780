package graph

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// resourceSP is a first-party resource service principal present in every
// tenant, with the app roles the emulator knows (tenant-api.md §1.5).
type resourceSP struct {
	appID, name string
	roles       map[string]string // value → appRole id
}

// App-role ids: tenant-api.md §1.5 ("seen in code"); the IMAP/POP/SMTP ids
// were "not found in any source", so the emulator derives its own — clients
// must resolve ids by value at runtime, as §1.5 says.
var resourceSPs = []resourceSP{
	{appID: tenant.ResourceExchangeAppID, name: tenant.ResourceExchangeName, roles: map[string]string{
		"Exchange.ManageAsApp": "dc50a0fb-09a3-484d-be87-e023b12c6440",
		"IMAP.AccessAsApp":     derivedGUID("approle:IMAP.AccessAsApp"),
		"POP.AccessAsApp":      derivedGUID("approle:POP.AccessAsApp"),
		"SMTP.SendAsApp":       derivedGUID("approle:SMTP.SendAsApp"),
	}},
	{appID: tenant.ResourceGraphAppID, name: tenant.ResourceGraphName, roles: map[string]string{
		"AuditLog.Read.All":             "b0afded3-3588-46d8-8b3d-9842eff778da",
		"Policy.Read.All":               "246dd0d5-5bd0-4def-940b-0421030a5b68",
		"Policy.Read.ConditionalAccess": "37730810-e9ba-4e46-b07e-8ca78d182097",
		"Directory.Read.All":            "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
		"Application.Read.All":          "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
		"Reports.Read.All":              "230c1aed-a721-4c5d-9cb4-a90514e508ef",
	}},
}

func (r resourceSP) id() string { return derivedGUID("sp:" + r.appID) }

func (r resourceSP) obj() obj {
	roles := []obj{}
	for _, v := range sortedKeys(r.roles) {
		roles = append(roles, obj{
			{"allowedMemberTypes", []string{"Application"}},
			{"description", v},
			{"displayName", v},
			{"id", r.roles[v]},
			{"isEnabled", true},
			{"origin", "Application"},
			{"value", v},
		})
	}
	return obj{
		{"id", r.id()},
		{"accountEnabled", true},
		{"appId", r.appID},
		{"displayName", r.name},
		{"servicePrincipalType", "Application"},
		{"appRoles", roles},
		{"keyCredentials", []obj{}},
		{"passwordCredentials", []obj{}},
	}
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// appSP is an app registration's enterprise application: its id is the
// EnterpriseObjectID (the one New-ServicePrincipal must be given). Its
// credentials live on the application (§6.1: "credentials for a
// single-tenant app are normally on the application").
func appSP(a *tenant.App) obj {
	return obj{
		{"id", a.EnterpriseObjectID},
		{"accountEnabled", true},
		{"appId", a.AppID},
		{"displayName", a.DisplayName},
		{"servicePrincipalType", "Application"},
		{"appRoles", []obj{}},
		{"keyCredentials", []obj{}},
		{"passwordCredentials", []obj{}},
	}
}

// assignments is §6.2 step 3 for an app's service principal: one
// appRoleAssignment per consented application permission, resourceId the
// resource service principal's object id.
func assignments(a *tenant.App) []obj {
	out := []obj{}
	add := func(r resourceSP, roles []string) {
		for _, v := range roles {
			id, ok := r.roles[v]
			if !ok {
				continue
			}
			out = append(out, obj{
				{"id", base64.RawURLEncoding.EncodeToString([]byte(derivedGUID(a.AppID + "/" + v)))[:43]},
				{"createdDateTime", nil},
				{"appRoleId", id},
				{"principalDisplayName", a.DisplayName},
				{"principalId", a.EnterpriseObjectID},
				{"principalType", "ServicePrincipal"},
				{"resourceDisplayName", r.name},
				{"resourceId", r.id()},
			})
		}
	}
	add(resourceSPs[0], a.Roles)
	add(resourceSPs[1], a.GraphRoles)
	return out
}

// servicePrincipals serves §6.1/§6.2: the collection, /{id},
// (appId='…') and /{id}/appRoleAssignments.
func (h *handler) servicePrincipals(c *call) {
	key, byAppID := "", false
	switch {
	case len(c.segs) >= 2:
		key = c.segs[1]
	case c.segs[0] != "servicePrincipals":
		k, v, ok := keyArg(c.segs[0])
		if !ok || !strings.EqualFold(k, "appId") {
			c.fail(badRequest(fmt.Sprintf("Bad request. The key segment '%s' is not valid.", c.segs[0]))) // inferred text
			return
		}
		key, byAppID = v, true
	}
	var items []obj
	var found obj
	var foundApp *tenant.App
	h.t.View(func(s *tenant.State) {
		for _, r := range resourceSPs {
			o := r.obj()
			if key == "" {
				items = append(items, o)
			} else if (byAppID && strings.EqualFold(r.appID, key)) || (!byAppID && r.id() == key) {
				found = o
			}
		}
		for _, a := range s.Apps {
			o := appSP(a)
			if key == "" {
				items = append(items, o)
			} else if (byAppID && strings.EqualFold(a.AppID, key)) || (!byAppID && strings.EqualFold(a.EnterpriseObjectID, key)) {
				found = o
				c := *a
				foundApp = &c
			}
		}
	})
	switch {
	case key == "":
		c.page("servicePrincipals", "microsoft.graph.servicePrincipal", items, c.now, 100, 999)
	case found == nil:
		c.fail(errNotFound(key))
	case len(c.segs) == 3:
		var as []obj
		if foundApp != nil {
			as = assignments(foundApp)
		}
		c.page("appRoleAssignments", "microsoft.graph.appRoleAssignment", list(as), c.now, 100, 999)
	default:
		c.entity("servicePrincipals/$entity", "microsoft.graph.servicePrincipal", found)
	}
}

// user serves G8 (tenant-api.md §0, §9 account_disabled: "GET
// /users/{upn}?$select=id,userPrincipalName,accountEnabled").
func (h *handler) user(c *call) {
	key := c.segs[1]
	var o obj
	h.t.View(func(s *tenant.State) {
		for _, u := range s.Users {
			if strings.EqualFold(u.ObjectID, key) || strings.EqualFold(u.UPN, key) {
				o = obj{
					{"id", u.ObjectID},
					{"accountEnabled", !u.Disabled},
					{"displayName", u.DisplayName},
					{"mail", u.UPN},
					{"userPrincipalName", u.UPN},
				}
			}
		}
	})
	if o == nil {
		c.fail(errNotFound(key))
		return
	}
	c.entity("users/$entity", "microsoft.graph.user", o)
}

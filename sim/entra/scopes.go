package entra

import (
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// oidcScopes are the OpenID Connect scopes MSAL adds to every request; they
// name no resource.
var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// scopeItem is one resource permission of a scope parameter.
type scopeItem struct {
	raw  string // as sent
	perm string // IMAP.AccessAsUser.All, .default
	bare bool   // sent without a resource: Entra reads it as Graph's
}

// scopes is a parsed scope parameter: one resource and its permissions,
// plus OIDC scopes.
type scopes struct {
	resource string
	items    []scopeItem
	oidc     []string
	all      []string
}

func (s *scopes) has(oidc string) bool { return slices.Contains(s.oidc, oidc) }

// granted is the response's scope value: the app's consented permissions on
// the resource, resource-qualified, then the OIDC scopes asked for.
func (s *scopes) granted(app *tenant.App) string {
	var out []string
	if tenant.IsExchangeResource(s.resource) {
		for _, p := range app.DelegatedScopes {
			if !slices.Contains(oidcScopes, p) {
				out = append(out, s.resource+"/"+p)
			}
		}
	} else {
		for _, it := range s.items {
			out = append(out, s.resource+"/"+it.perm)
		}
	}
	return strings.Join(append(out, s.oidc...), " ")
}

// parseScopes splits a scope parameter. A permission is "<resource>/<name>"
// with the resource a URI or an app id GUID; a bare name belongs to Graph.
// All permissions must be of one resource (AADSTS28000 otherwise).
func parseScopes(raw string) (*scopes, *aadError) {
	sc := &scopes{}
	for _, f := range strings.Fields(raw) {
		sc.all = append(sc.all, f)
		if slices.ContainsFunc(oidcScopes, func(o string) bool { return strings.EqualFold(o, f) }) {
			sc.oidc = append(sc.oidc, strings.ToLower(f))
			continue
		}
		res, perm, bare := tenant.ResourceGraph, f, true
		if i := strings.LastIndex(f, "/"); i >= 0 {
			res, perm, bare = strings.TrimSuffix(f[:i], "/"), f[i+1:], false
			if perm == "" || res == "" {
				return nil, errScopeInvalid(raw)
			}
		}
		if sc.resource != "" && !strings.EqualFold(sc.resource, res) {
			return nil, errMultipleResources(raw)
		}
		sc.resource = res
		sc.items = append(sc.items, scopeItem{raw: f, perm: perm, bare: bare})
	}
	return sc, nil
}

// knownResource: resources the emulated tenant has service principals for.
// https://ps.outlook.com is Exchange's too (used for multi-tenant consent);
// its tokens are refused by IMAP like in MailKit#1811 (aud not accepted).
func knownResource(res string) bool {
	res = strings.TrimSuffix(strings.ToLower(res), "/")
	return tenant.IsExchangeResource(res) || res == tenant.ResourceGraph || res == tenant.ResourceGraphAppID ||
		res == "https://ps.outlook.com"
}

// parseDelegated parses a delegated (ROPC, refresh) scope and checks consent
// for Exchange permissions: each must be among the app's delegated scopes
// (.default means all of them), else AADSTS65001. A request with only OIDC
// scopes gets a Graph token, as in Entra.
func parseDelegated(s *tenant.State, app *tenant.App, raw string) (*scopes, *aadError) {
	sc, aerr := parseScopes(raw)
	if aerr != nil {
		return nil, aerr
	}
	if sc.resource == "" {
		sc.resource = tenant.ResourceGraph
		return sc, nil
	}
	if !knownResource(sc.resource) {
		return nil, errResourceNotFound(sc.resource, s.ID)
	}
	if !tenant.IsExchangeResource(sc.resource) {
		return sc, nil
	}
	for _, it := range sc.items {
		ok := slices.ContainsFunc(app.DelegatedScopes, func(d string) bool {
			return strings.EqualFold(d, it.perm) || (it.perm == ".default" && !slices.Contains(oidcScopes, d))
		})
		if !ok {
			return nil, errConsent(app.AppID, app.DisplayName)
		}
	}
	return sc, nil
}

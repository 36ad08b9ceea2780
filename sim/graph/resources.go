package graph

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// skiptoken is the opaque $skiptoken: the snapshot time (sign-ins visible
// then) and the offset of the next page, hex_decimal like the doc's
// "9177f2e3532fcd4c4d225f68f7b9bdf7_1" (tenant-api.md §2.2).
type skiptoken struct {
	asOf   time.Time
	offset int
}

func (t skiptoken) String() string {
	return fmt.Sprintf("%x_%d", t.asOf.UnixNano(), t.offset)
}

func parseSkiptoken(s string) (skiptoken, bool) {
	h, o, ok := strings.Cut(s, "_")
	if !ok {
		return skiptoken{}, false
	}
	ns, err1 := strconv.ParseInt(h, 16, 64)
	off, err2 := strconv.Atoi(o)
	if err1 != nil || err2 != nil || off < 0 {
		return skiptoken{}, false
	}
	return skiptoken{asOf: time.Unix(0, ns), offset: off}, true
}

// page cuts items at the $skiptoken offset and $top, and answers the
// collection with @odata.nextLink (absolute, GET it verbatim, §2.2) when
// more remain.
func (c *call) page(context, typ string, items []obj, asOf time.Time, def, max int) {
	top, aerr := c.top(def, max)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	off := 0
	if st := c.query().Get("$skiptoken"); st != "" {
		tok, ok := parseSkiptoken(st)
		if !ok {
			c.fail(badRequest("Invalid $skiptoken value.")) // inferred text
			return
		}
		off = tok.offset
	}
	sel := c.selectList()
	end := min(off+top, len(items))
	value := []obj{}
	for i := off; i < end; i++ {
		o, aerr := items[i].project(sel, typ)
		if aerr != nil {
			c.fail(aerr)
			return
		}
		value = append(value, o)
	}
	out := obj{{"@odata.context", c.base + "/$metadata#" + context}}
	if end < len(items) {
		q := c.query()
		q.Set("$skiptoken", skiptoken{asOf: asOf, offset: end}.String())
		if q.Get("$top") == "" {
			q.Set("$top", strconv.Itoa(top))
		}
		out = append(out, kv{"@odata.nextLink", c.base + "/" + strings.Join(c.segs, "/") + "?" + q.Encode()})
	}
	c.ok(append(out, kv{"value", value}))
}

// entity answers one object, projected by $select, with its context.
func (c *call) entity(context, typ string, o obj) {
	sel := c.selectList()
	p, aerr := o.project(sel, typ)
	if aerr != nil {
		c.fail(aerr)
		return
	}
	if len(sel) > 0 {
		// §6.1: "$metadata#applications(id,appId,…)/$entity".
		context = strings.Replace(context, "/$entity", "("+strings.Join(sel, ",")+")/$entity", 1)
	}
	c.ok(append(obj{{"@odata.context", c.base + "/$metadata#" + context}}, p...))
}

// securityDefaults is §3, verbatim from Microsoft's page: a singleton with
// fixed id, description and display name.
func (h *handler) securityDefaults(c *call) {
	var on bool
	h.t.View(func(s *tenant.State) { on = s.SecurityDefaults })
	o := obj{
		{"description", "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks."},
		{"displayName", "Security Defaults"},
		{"id", "00000000-0000-0000-0000-000000000005"},
		{"isEnabled", on},
	}
	sel := c.selectList()
	p, aerr := o.project(sel, "microsoft.graph.identitySecurityDefaultsEnforcementPolicy")
	if aerr != nil {
		c.fail(aerr)
		return
	}
	c.ok(append(obj{{"@odata.context", c.base + "/$metadata#policies/identitySecurityDefaultsEnforcementPolicy"}}, p...))
}

// caPolicies is §4.2: the tenant's one emulated policy, a "block legacy"
// policy (clientAppTypes exchangeActiveSync+other, grant block) that
// includes the users flagged ConditionalAccessBlocked, enabled while it has
// any. What this read returns without P1 is not confirmed (§4.1): the
// emulator answers it regardless of the licence.
func (h *handler) caPolicies(c *call) {
	var users []string
	h.t.View(func(s *tenant.State) { users = s.CAPolicyUsers() })
	state := "enabled"
	if len(users) == 0 {
		state, users = "disabled", []string{"None"}
	}
	p := obj{
		{"id", tenant.CAPolicyID},
		{"displayName", tenant.CAPolicyName},
		{"createdDateTime", nil},
		{"modifiedDateTime", nil},
		{"state", state},
		{"sessionControls", nil},
		{"conditions", obj{
			{"signInRiskLevels", []string{}},
			{"clientAppTypes", []string{"exchangeActiveSync", "other"}},
			{"platforms", nil},
			{"locations", nil},
			{"applications", obj{
				{"includeApplications", []string{"All"}},
				{"excludeApplications", []string{}},
				{"includeUserActions", []string{}},
			}},
			{"users", obj{
				{"includeUsers", users},
				{"excludeUsers", []string{}},
				{"includeGroups", []string{}},
				{"excludeGroups", []string{}},
				{"includeRoles", []string{}},
				{"excludeRoles", []string{}},
			}},
		}},
		{"grantControls", obj{
			{"operator", "OR"},
			{"builtInControls", []string{"block"}},
			{"customAuthenticationFactors", []string{}},
			{"termsOfUse", []string{}},
		}},
	}
	if len(c.segs) > 3 {
		c.fail(errNotFound(c.segs[3]))
		return
	}
	c.page("conditionalAccess/policies", "microsoft.graph.conditionalAccessPolicy", []obj{p}, c.now, 1000, 1000)
}

// keyArg splits "applications(appId='x')" into ("appId", "x").
func keyArg(seg string) (string, string, bool) {
	_, rest, ok := strings.Cut(seg, "(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return "", "", false
	}
	rest = strings.TrimSuffix(rest, ")")
	k, v, ok := strings.Cut(rest, "=")
	if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
		return "", "", false
	}
	return k, strings.ReplaceAll(v[1:len(v)-1], "''", "'"), true
}

// applicationObjectID is the app registration's object id: the stored
// one, else derived from the app id so that it is stable across restarts.
func applicationObjectID(a *tenant.App) string {
	if a.ObjectID != "" {
		return a.ObjectID
	}
	return derivedGUID("application:" + a.AppID)
}

func derivedGUID(seed string) string { return tenant.DerivedGUID(seed) }

// passwordCredentials is §6.1's passwordCredential: secretText null on a
// GET, hint the first three characters (doc: "Contains the first three
// characters of the password").
func passwordCredentials(a *tenant.App) []obj {
	out := []obj{}
	for _, sec := range a.Secrets {
		hint := sec.Value
		if len(hint) > 3 {
			hint = hint[:3]
		}
		out = append(out, obj{
			{"customKeyIdentifier", nil},
			{"displayName", strOrNil(sec.DisplayName)},
			{"endDateTime", graphTime(sec.Expires)},
			{"hint", hint},
			{"keyId", sec.ID},
			{"secretText", nil},
			{"startDateTime", graphTime(sec.Created)},
		})
	}
	return out
}

// keyCredentials is §6.1's keyCredential for each certificate: key null
// (returned only on $select of one object; the emulator never returns it),
// customKeyIdentifier the certificate's SHA-1 thumbprint in hex (doc:
// "defaults to the thumbprint"; the hex form is inferred), endDateTime the
// knob-able Expires, startDateTime the certificate's NotBefore.
func keyCredentials(a *tenant.App) []obj {
	out := []obj{}
	for _, crt := range a.Certificates {
		var start time.Time
		var name, thumb string
		if b, _ := pem.Decode([]byte(crt.PEM)); b != nil {
			if x, err := x509.ParseCertificate(b.Bytes); err == nil {
				start, name = x.NotBefore, "CN="+x.Subject.CommonName
				sum := sha1.Sum(x.Raw)
				thumb = strings.ToUpper(hex.EncodeToString(sum[:]))
			}
		}
		id := crt.KeyIDOf()
		out = append(out, obj{
			{"customKeyIdentifier", strOrNil(thumb)},
			{"displayName", strOrNil(name)},
			{"endDateTime", graphTime(crt.Expires)},
			{"key", nil},
			{"keyId", id},
			{"startDateTime", graphTime(start)},
			{"type", "AsymmetricX509Cert"},
			{"usage", "Verify"},
		})
	}
	return out
}

func applicationObj(a *tenant.App) obj {
	return obj{
		{"id", applicationObjectID(a)},
		{"appId", a.AppID},
		{"displayName", a.DisplayName},
		{"signInAudience", "AzureADMyOrg"},
		{"keyCredentials", keyCredentials(a)},
		{"passwordCredentials", passwordCredentials(a)},
	}
}

// applications serves §6.1: the collection, /applications/{id} and
// /applications(appId='…'). Only app registrations of this tenant exist.
func (h *handler) applications(c *call) {
	var items []obj
	var found obj
	key := ""
	if len(c.segs) == 2 {
		key = c.segs[1]
	} else if k, v, ok := keyArg(c.segs[0]); ok && strings.EqualFold(k, "appId") {
		key = "appId:" + v
	} else if c.segs[0] != "applications" {
		c.fail(badRequest(fmt.Sprintf("Bad request. The key segment '%s' is not valid.", c.segs[0]))) // inferred text
		return
	}
	h.t.View(func(s *tenant.State) {
		for _, a := range s.Apps {
			o := applicationObj(a)
			switch {
			case key == "":
				items = append(items, o)
			case strings.HasPrefix(key, "appId:") && strings.EqualFold(a.AppID, key[6:]),
				!strings.HasPrefix(key, "appId:") && strings.EqualFold(applicationObjectID(a), key):
				found = o
			}
		}
	})
	if key == "" {
		c.page("applications", "microsoft.graph.application", items, c.now, 100, 999)
		return
	}
	if found == nil {
		c.fail(errNotFound(strings.TrimPrefix(key, "appId:")))
		return
	}
	c.entity("applications/$entity", "microsoft.graph.application", found)
}

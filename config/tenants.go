package config

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// Tenant is one Microsoft 365 tenant the targets belong to, with optional
// read-only tenant reads (package inspect). Targets join a tenant by their
// own tenant: key, else by their OAuth app's tenant, else by the domain of
// their user; with a single tenant configured, every target is in it.
type Tenant struct {
	// TenantID is the tenant's id (GUID) or a verified domain: the token
	// authority and the Exchange admin API path use it.
	TenantID string `yaml:"tenant_id"`
	// Domains: user domains of the tenant (contoso.com).
	Domains []string `yaml:"domains"`
	// Reads, when set, turns on tenant reads with their own app.
	Reads *TenantReads `yaml:"tenant_reads"`
	Line  int          `yaml:"-"`
}

// TenantReads is the read-only app of a tenant and how to use it. The app
// holds read permissions only (README "Tenant reads"): Graph
// Policy.Read.All, Application.Read.All, AuditLog.Read.All; Exchange
// Exchange.ManageAsApp with the Global Reader role or a View-Only role group.
type TenantReads struct {
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	CertFile         string `yaml:"cert_file"`
	// Authority, GraphURL and ExchangeURL override Microsoft's public
	// cloud (the emulator).
	Authority   string `yaml:"authority"`
	GraphURL    string `yaml:"graph_url"`
	ExchangeURL string `yaml:"exchange_url"`
	CAFile      string `yaml:"ca_file"`
	// ExchangeAdmin turns on the Exchange reads through InvokeCommand
	// (not a documented API, hence its own switch).
	ExchangeAdmin bool `yaml:"exchange_admin"`
	// SignIns reads the sign-in log (needs Entra ID P1/P2).
	SignIns *bool `yaml:"signins"`
	// TTL: no setting is read again sooner (never sooner than the
	// tenant's most frequent check either). Default 15m.
	TTL Duration `yaml:"ttl"`
	// SignInWindow: how far back the sign-in log is read. Default 7 days.
	SignInWindow Duration `yaml:"signin_window"`
	// ExpiryWarning: how long before an app credential expires exoprobe
	// warns. Default 30 days.
	ExpiryWarning Duration `yaml:"expiry_warning"`
	// Apps: names in oauth_apps (or client ids) whose secrets and
	// certificates to watch; default every app of this tenant.
	Apps []string `yaml:"apps"`
}

// Default expiry warning horizon.
const DefaultExpiryWarning = 30 * 24 * time.Hour

// ClientSecret is the reader app's secret reference.
func (r *TenantReads) ClientSecret() Secret {
	return Secret{File: r.ClientSecretFile, Env: r.ClientSecretEnv}
}

// SignInsOn reports whether the sign-in log is read (default yes).
func (r *TenantReads) SignInsOn() bool { return r.SignIns == nil || *r.SignIns }

// TenantNames are the configured tenants, sorted.
func (c *Config) TenantNames() []string {
	names := make([]string, 0, len(c.Tenants))
	for n := range c.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TenantOf returns the name of the tenant a target belongs to, "" if none.
func (c *Config) TenantOf(t *Target) string {
	if t.Tenant != "" {
		return t.Tenant
	}
	names := c.TenantNames()
	if app := c.App(t); app != nil && app.Tenant != "" {
		for _, n := range names {
			if strings.EqualFold(c.Tenants[n].TenantID, app.Tenant) {
				return n
			}
		}
	}
	if _, domain, ok := strings.Cut(t.User, "@"); ok {
		for _, n := range names {
			ten := c.Tenants[n]
			if strings.EqualFold(ten.TenantID, domain) {
				return n
			}
			for _, d := range ten.Domains {
				if strings.EqualFold(d, domain) {
					return n
				}
			}
		}
	}
	if len(names) == 1 {
		return names[0]
	}
	return ""
}

func (c *Config) validateTenants(e *errs) {
	for _, name := range c.TenantNames() {
		t := c.Tenants[name]
		line := c.tenantLines[name]
		where := "tenants." + name
		if !nameRE.MatchString(name) {
			e.add(line, "%s: name may contain only letters, digits and . _ @ + -", where)
		}
		if t.TenantID == "" {
			e.add(line, "%s: tenant_id is required (the tenant's id or a verified domain)", where)
		}
		r := t.Reads
		if r == nil {
			continue
		}
		w := where + ".tenant_reads"
		if r.ClientID == "" {
			e.add(line, "%s: client_id is required (the read-only app)", w)
		}
		n := 0
		for _, set := range []bool{r.ClientSecretFile != "", r.ClientSecretEnv != "", r.CertFile != ""} {
			if set {
				n++
			}
		}
		switch {
		case n == 0:
			e.add(line, "%s: needs a credential: client_secret_file, client_secret_env or cert_file", w)
		case n > 1:
			e.add(line, "%s: give one of client_secret_file, client_secret_env, cert_file", w)
		}
		for _, u := range []struct{ key, v string }{{"authority", r.Authority}, {"graph_url", r.GraphURL}, {"exchange_url", r.ExchangeURL}} {
			if u.v == "" {
				continue
			}
			// The reader's bearer tokens never travel in clear.
			if pu, err := url.Parse(u.v); err != nil || pu.Scheme != "https" || pu.Host == "" {
				e.add(line, "%s: %s %q must be an https:// URL", w, u.key, u.v)
			}
		}
		for _, a := range r.Apps {
			if _, ok := c.OAuthApps[a]; !ok && !strings.Contains(a, "-") {
				e.add(line, "%s: apps: %q is neither an oauth_apps name nor a client id", w, a)
			}
		}
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.Tenant != "" {
			if _, ok := c.Tenants[t.Tenant]; !ok {
				e.add(t.at("tenant"), "target %q: unknown tenant %q (define it under tenants:)", t.Name, t.Tenant)
			}
		}
	}
}

// WatchedApps returns the client ids (and certificate files) of the apps
// whose credentials a tenant's reads watch: tenant_reads.apps, else every
// oauth app whose tenant is this one.
func (c *Config) WatchedApps(tenant string) (clientIDs []string, certFiles []string) {
	t, ok := c.Tenants[tenant]
	if !ok {
		return nil, nil
	}
	add := func(a OAuthApp) {
		if a.ClientID != "" {
			clientIDs = append(clientIDs, a.ClientID)
		}
		if a.CertFile != "" {
			certFiles = append(certFiles, a.CertFile)
		}
	}
	if t.Reads != nil && len(t.Reads.Apps) > 0 {
		for _, n := range t.Reads.Apps {
			if a, ok := c.OAuthApps[n]; ok {
				add(a)
			} else {
				clientIDs = append(clientIDs, n)
			}
		}
		return clientIDs, certFiles
	}
	names := make([]string, 0, len(c.OAuthApps))
	for n := range c.OAuthApps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if a := c.OAuthApps[n]; strings.EqualFold(a.Tenant, t.TenantID) || len(c.Tenants) == 1 {
			add(a)
		}
	}
	for i := range c.Targets {
		if tt := &c.Targets[i]; tt.OAuth != nil && tt.OAuth.App != nil && c.TenantOf(tt) == tenant {
			add(*tt.OAuth.App)
		}
	}
	return clientIDs, certFiles
}

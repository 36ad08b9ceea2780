// Package inspect reads a tenant's own settings, read-only, to confirm what
// a failed login means: Exchange's Get- cmdlets through the admin API's
// InvokeCommand endpoint (transport config, CAS mailboxes, authentication
// policies, service principals, mailbox permissions) and Microsoft Graph
// (security defaults, Conditional Access, the sign-in log, app
// credentials). Endpoints, permissions and shapes: ../shared/tenant-api.md.
//
// Every read is optional and degrades on its own: a missing permission or
// licence, throttling, a timeout or an unreachable endpoint becomes a
// snapshot.Problem ("could not read X because Y") and the rest of the
// snapshot stays usable. Nothing here ever changes a probe's result; the
// reader holds its own app's credentials, never the probe's.
//
// Reads are cached per tenant: each part is read again only when older
// than the TTL, and a throttled part keeps its last good value.
package inspect

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe/token"
)

// Scopes of the reader's two tokens: one resource per token (tenant-api.md §1.1).
const (
	ScopeGraph    = "https://graph.microsoft.com/.default"
	ScopeExchange = "https://outlook.office365.com/.default"
)

// Public cloud endpoints.
const (
	DefaultGraphURL    = "https://graph.microsoft.com/v1.0"
	DefaultExchangeURL = "https://outlook.office365.com"
)

// Defaults.
const (
	DefaultTTL          = 15 * time.Minute
	DefaultSignInWindow = 7 * 24 * time.Hour
	// signInOverlap re-reads the end of the last window: sign-ins arrive
	// minutes late (tenant-api.md §5.8).
	signInOverlap = 2 * time.Hour
)

// Config is one tenant's reader.
type Config struct {
	// Name is the configured tenant name; TenantID its id or domain
	// (token authority and the InvokeCommand path).
	Name     string
	TenantID string
	ClientID string
	// ClientSecret or CertPEM: the reader app's credential (values; the
	// caller reads them from files). They never appear in any output.
	ClientSecret string
	CertPEM      []byte
	// Authority, GraphURL and ExchangeURL override Microsoft's public
	// cloud (e.g. the emulator). ExchangeURL is the host; the path
	// /adminapi/beta/{TenantID} is appended.
	Authority   string
	GraphURL    string
	ExchangeURL string
	// HTTPClient trusts the endpoints' CA; nil means a default client.
	HTTPClient *http.Client
	// ExchangeAdmin turns on the InvokeCommand reads (not a documented
	// API: behind its own switch).
	ExchangeAdmin bool
	// TTL: no part is read again sooner. SignInWindow: how far back the
	// sign-in log is read.
	TTL          time.Duration
	SignInWindow time.Duration
	// Timeout of one Graph request; ExchangeTimeout of one InvokeCommand.
	Timeout         time.Duration
	ExchangeTimeout time.Duration
	// Pace overrides the spacing between requests per workload (tests).
	Pace map[string]time.Duration
	Now  func() time.Time
	// tokens replaces the token sources (tests).
	graphTok, exoTok tokenSource
}

// Request says what one read needs; parts are read only when asked for.
type Request struct {
	// Mailboxes to read one by one (Get-CASMailbox, Get-User).
	Mailboxes []string
	// AllMailboxes reads every mailbox in one call each (the audit).
	AllMailboxes bool
	// Permissions: mailboxes whose Get-MailboxPermission matters (XOAUTH2
	// app checks).
	Permissions []string
	// Apps: application (client) ids whose service principal and
	// credentials to read.
	Apps []string
	// SignIns reads the sign-in log's Basic (IMAP4, POP3, Authenticated
	// SMTP) rows.
	SignIns bool
	// Force ignores the TTL (an explicit command, not the daemon).
	Force bool
}

// Reader reads one tenant. Safe for concurrent use; reads are serialised
// (one request in flight per tenant, tenant-api.md §8.7).
type Reader struct {
	cfg Config
	c   *client

	mu    sync.Mutex // one read at a time
	parts map[string]*part
	// signIns kept across reads, by id, within the window.
	signIns     map[string]snapshot.SignIn
	signInsFrom time.Time
}

// part is one cached read: its value is applied to a snapshot.
type part struct {
	at time.Time
	ok bool // the last attempt succeeded (else prob)
	// good is when the value in apply was read, for a failed part that
	// keeps the last good value.
	good  time.Time
	apply func(*snapshot.Snapshot)
	prob  *snapshot.Problem
}

// New makes a reader. It fails only on a configuration that cannot work.
func New(cfg Config) (*Reader, error) {
	if cfg.TenantID == "" {
		return nil, errors.New("inspect: tenant id is required")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("inspect: the reader's client_id is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.SignInWindow <= 0 {
		cfg.SignInWindow = DefaultSignInWindow
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.ExchangeTimeout <= 0 {
		cfg.ExchangeTimeout = 60 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	// Never follow a redirect with the bearer token to another host.
	hcCopy := *hc
	hcCopy.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && req.URL.Host != via[0].URL.Host {
			return errors.New("redirect to another host refused")
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}
	// MSAL reads token and discovery bodies whole: cap every body the
	// reader's client receives (ours are capped again, with a clear error).
	base := hcCopy.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hcCopy.Transport = capTransport{rt: base, n: MaxBody + 1}
	graphTok, exoTok := cfg.graphTok, cfg.exoTok
	if graphTok == nil || exoTok == nil {
		mk := func(scope string) (tokenSource, error) {
			f, err := token.ClientCredentials(token.Entra{
				Authority: cfg.Authority, Tenant: cfg.TenantID, ClientID: cfg.ClientID,
				ClientSecret: cfg.ClientSecret, CertPEM: cfg.CertPEM, Scope: scope, HTTPClient: &hcCopy,
			})
			if err != nil {
				return nil, fmt.Errorf("inspect: reader app: %w", err)
			}
			return token.NewCached(f), nil
		}
		var err error
		if graphTok, err = mk(ScopeGraph); err != nil {
			return nil, err
		}
		if exoTok, err = mk(ScopeExchange); err != nil {
			return nil, err
		}
	}
	graph := strings.TrimRight(firstNonEmpty(cfg.GraphURL, DefaultGraphURL), "/")
	exo := strings.TrimRight(firstNonEmpty(cfg.ExchangeURL, DefaultExchangeURL), "/")
	if !strings.Contains(exo, "/adminapi/") {
		exo += "/adminapi/beta/" + url.PathEscape(cfg.TenantID)
	}
	pace := map[string]time.Duration{}
	for k, v := range defaultPace {
		pace[k] = v
	}
	for k, v := range cfg.Pace {
		pace[k] = v
	}
	r := &Reader{cfg: cfg, parts: map[string]*part{}, signIns: map[string]snapshot.SignIn{}}
	r.c = &client{http: &hcCopy, graph: graph, exchange: exo, graphTok: graphTok, exoTok: exoTok,
		timeout: cfg.Timeout, exoTimeout: cfg.ExchangeTimeout, next: map[string]time.Time{}, pace: pace, now: cfg.Now}
	return r, nil
}

// Name is the configured tenant name.
func (r *Reader) Name() string { return r.cfg.Name }

// TTL is the reader's cache lifetime.
func (r *Reader) TTL() time.Duration { return r.cfg.TTL }

// Read returns a snapshot with what req asks for, reading only the parts
// that are missing or older than the TTL. It never fails: what could not
// be read is in the snapshot's Problems.
func (r *Reader) Read(ctx context.Context, req Request) *snapshot.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	s := &snapshot.Snapshot{Tenant: r.cfg.Name, TenantID: r.cfg.TenantID, ReadAt: now}

	// Graph: security defaults, Conditional Access.
	r.get(ctx, req.Force, "security_defaults", r.readSecurityDefaults).into(s)
	r.get(ctx, req.Force, "conditional_access", r.readConditionalAccess).into(s)
	for _, app := range dedupe(req.Apps) {
		r.get(ctx, req.Force, "app:"+app, func(ctx context.Context) part { return r.readApp(ctx, app) }).into(s)
	}
	if req.SignIns {
		r.get(ctx, req.Force, "signins", r.readSignIns).into(s)
	}

	// Exchange.
	if !r.cfg.ExchangeAdmin {
		s.Problems = append(s.Problems, snapshot.Problem{What: "Exchange settings (InvokeCommand)", Kind: snapshot.KindDisabled,
			Why: "exchange_admin is off in the configuration"})
	} else {
		r.get(ctx, req.Force, "transport", r.readTransport).into(s)
		r.get(ctx, req.Force, "orgconfig", r.readOrgConfig).into(s)
		r.get(ctx, req.Force, "policies", r.readPolicies).into(s)
		r.get(ctx, req.Force, "sps", r.readSPs).into(s)
		if req.AllMailboxes {
			r.get(ctx, req.Force, "all_cas", r.readAllCAS).into(s)
			r.get(ctx, req.Force, "all_users", r.readAllUsers).into(s)
		}
		for _, m := range dedupe(req.Mailboxes) {
			if req.AllMailboxes && s.Mailbox(m) != nil {
				continue
			}
			r.get(ctx, req.Force, "cas:"+m, func(ctx context.Context) part { return r.readCAS(ctx, m) }).into(s)
			r.get(ctx, req.Force, "user:"+m, func(ctx context.Context) part { return r.readUser(ctx, m) }).into(s)
		}
		for _, m := range dedupe(req.Permissions) {
			r.get(ctx, req.Force, "perm:"+m, func(ctx context.Context) part { return r.readPermissions(ctx, m) }).into(s)
		}
	}
	// The reader's own secret never leaves it, even if a server echoes it.
	if sec := r.cfg.ClientSecret; len(sec) >= 4 {
		for i := range s.Problems {
			s.Problems[i].Why = strings.ReplaceAll(s.Problems[i].Why, sec, "[REDACTED]")
		}
	}
	return s
}

// cached is a part ready to apply.
type cached struct{ p *part }

func (c cached) into(s *snapshot.Snapshot) {
	if c.p == nil {
		return
	}
	if c.p.apply != nil {
		c.p.apply(s)
	}
	if c.p.prob != nil {
		s.Problems = append(s.Problems, *c.p.prob)
	}
}

// get returns the cached part when fresh, else reads it. A failed read
// keeps the last good value (a stale answer beats none) with the new
// problem attached; a throttled part is not asked again before its
// Retry-After.
func (r *Reader) get(ctx context.Context, force bool, key string, read func(context.Context) part) cached {
	old := r.parts[key]
	now := r.cfg.Now()
	if old != nil {
		age := now.Sub(old.at)
		switch {
		case old.ok && !force && age < r.cfg.TTL:
			return cached{old}
		case old.prob != nil && old.prob.Kind == snapshot.KindThrottled:
			// Honour Retry-After even when forced; none given: 10 s.
			wait := old.prob.RetryAfter
			if wait <= 0 {
				wait = 10 * time.Second
			}
			if age < wait {
				return cached{old}
			}
		case old.prob != nil && !force && age < min(r.cfg.TTL, time.Minute):
			// A failed read is retried after a minute, not by every caller.
			return cached{old}
		}
	}
	if ctx.Err() != nil {
		p := &snapshot.Problem{What: key, Kind: snapshot.KindTimeout, Why: "the read was cancelled"}
		return cached{&part{at: now, prob: p, apply: applyOf(old)}}
	}
	np := read(ctx)
	np.at = r.cfg.Now()
	if !np.ok && old != nil && old.apply != nil && np.apply == nil {
		// A stale answer beats none: keep the last good value and say so.
		last := old.good
		if old.ok {
			last = old.at
		}
		if np.prob != nil && !last.IsZero() {
			pr := *np.prob
			pr.Why += " (showing the read of " + last.UTC().Format(time.RFC3339) + ")"
			np.prob = &pr
		}
		np.apply, np.good = old.apply, last
	}
	r.parts[key] = &np
	return cached{&np}
}

func applyOf(p *part) func(*snapshot.Snapshot) {
	if p == nil {
		return nil
	}
	return p.apply
}

func failed(err error) part {
	var re *ReadError
	if errors.As(err, &re) {
		p := re.Problem()
		return part{prob: &p}
	}
	p := snapshot.Problem{What: "tenant read", Kind: snapshot.KindInvalid, Why: cleanText(err.Error(), 200)}
	return part{prob: &p}
}

func (r *Reader) readSecurityDefaults(ctx context.Context) part {
	var v struct {
		IsEnabled *bool `json:"isEnabled"`
	}
	const what = "GET /policies/identitySecurityDefaultsEnforcementPolicy"
	if err := r.c.graphGet(ctx, what, wlDirectory, "/policies/identitySecurityDefaultsEnforcementPolicy", &v); err != nil {
		return failed(needs(err, "the Microsoft Graph application permission Policy.Read.All"))
	}
	if v.IsEnabled == nil {
		return failed(&ReadError{What: what, Kind: snapshot.KindInvalid, Status: 200, Err: errors.New("no isEnabled in the answer")})
	}
	sd := snapshot.SecurityDefaults{IsEnabled: *v.IsEnabled}
	return part{ok: true, apply: func(s *snapshot.Snapshot) { c := sd; s.SecurityDefaults = &c }}
}

func (r *Reader) readConditionalAccess(ctx context.Context) part {
	var out []snapshot.ConditionalAccessPolicy
	const what = "GET /identity/conditionalAccess/policies"
	_, err := r.c.graphList(ctx, what, wlCA, "/identity/conditionalAccess/policies", func(raw json.RawMessage) error {
		var p struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
			State       string `json:"state"`
			Conditions  struct {
				ClientAppTypes []string `json:"clientAppTypes"`
				Users          struct {
					IncludeUsers  []string `json:"includeUsers"`
					ExcludeUsers  []string `json:"excludeUsers"`
					IncludeGroups []string `json:"includeGroups"`
					IncludeRoles  []string `json:"includeRoles"`
				} `json:"users"`
				Applications struct {
					IncludeApplications []string `json:"includeApplications"`
				} `json:"applications"`
			} `json:"conditions"`
			GrantControls *struct {
				BuiltInControls []string `json:"builtInControls"`
			} `json:"grantControls"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return errors.New("a policy is not the JSON Graph documents")
		}
		cp := snapshot.ConditionalAccessPolicy{ID: p.ID, DisplayName: p.DisplayName, State: p.State,
			ClientAppTypes: p.Conditions.ClientAppTypes, IncludeUsers: p.Conditions.Users.IncludeUsers,
			ExcludeUsers: p.Conditions.Users.ExcludeUsers, IncludeGroups: p.Conditions.Users.IncludeGroups,
			IncludeRoles: p.Conditions.Users.IncludeRoles, IncludeApplications: p.Conditions.Applications.IncludeApplications}
		if p.GrantControls != nil {
			cp.BuiltInControls = p.GrantControls.BuiltInControls
		}
		out = append(out, cp)
		return nil
	})
	if err != nil {
		return failed(needs(err, "the Microsoft Graph application permission Policy.Read.All"))
	}
	return part{ok: true, apply: func(s *snapshot.Snapshot) { s.ConditionalAccess = slices.Clone(out); s.ConditionalAccessRead = true }}
}

// graphCredential is Graph's passwordCredential / keyCredential.
type graphCredential struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName"`
	EndDateTime time.Time `json:"endDateTime"`
}

func (r *Reader) readApp(ctx context.Context, appID string) part {
	var app, sp struct {
		ID                  string            `json:"id"`
		AppID               string            `json:"appId"`
		DisplayName         string            `json:"displayName"`
		PasswordCredentials []graphCredential `json:"passwordCredentials"`
		KeyCredentials      []graphCredential `json:"keyCredentials"`
	}
	q := "(appId='" + odataString(appID) + "')?$select=id,appId,displayName,passwordCredentials,keyCredentials"
	appWhat := "GET /applications(appId='" + appID + "')"
	spWhat := "GET /servicePrincipals(appId='" + appID + "')"
	appErr := r.c.graphGet(ctx, appWhat, wlDirectory, "/applications"+q, &app)
	spErr := r.c.graphGet(ctx, spWhat, wlDirectory, "/servicePrincipals"+q, &sp)
	var probs []snapshot.Problem
	a := snapshot.App{AppID: appID}
	collect := func(src string, pw, keys []graphCredential) {
		for _, c := range pw {
			a.Credentials = append(a.Credentials, snapshot.Credential{Kind: "secret", KeyID: c.KeyID, DisplayName: c.DisplayName, EndDateTime: c.EndDateTime, Source: src})
		}
		for _, c := range keys {
			a.Credentials = append(a.Credentials, snapshot.Credential{Kind: "certificate", KeyID: c.KeyID, DisplayName: c.DisplayName, EndDateTime: c.EndDateTime, Source: src})
		}
	}
	if appErr == nil {
		a.DisplayName = app.DisplayName
		collect("application", app.PasswordCredentials, app.KeyCredentials)
	}
	if spErr == nil {
		a.ObjectID = sp.ID
		a.DisplayName = firstNonEmpty(a.DisplayName, sp.DisplayName)
		collect("servicePrincipal", sp.PasswordCredentials, sp.KeyCredentials)
	}
	// In a customer tenant only the service principal exists: an
	// application 404 is not a problem then (tenant-api.md §6.1).
	for _, e := range []struct {
		err   error
		other error
	}{{appErr, spErr}, {spErr, appErr}} {
		var re *ReadError
		if e.err == nil || (errors.As(e.err, &re) && re.Kind == snapshot.KindNotFound && e.other == nil) {
			continue
		}
		p := failed(needs(e.err, "the Microsoft Graph application permission Application.Read.All")).prob
		probs = append(probs, *p)
	}
	a.Read = appErr == nil || spErr == nil
	pt := part{ok: len(probs) == 0, apply: func(s *snapshot.Snapshot) {
		if s.Apps == nil {
			s.Apps = map[string]*snapshot.App{}
		}
		c := a
		c.Credentials = slices.Clone(a.Credentials)
		s.Apps[strings.ToLower(appID)] = &c
	}}
	if len(probs) > 0 {
		pr := probs[0]
		for _, p := range probs[1:] {
			pr.Why += "; and " + p.String()
		}
		pt.prob = &pr
	}
	return pt
}

// basicClients are the legacy clientAppUsed values of the three protocols
// (tenant-api.md §5.4).
var basicClients = []string{"Authenticated SMTP", "IMAP4", "POP3"}

func (r *Reader) readSignIns(ctx context.Context) part {
	now := r.cfg.Now()
	from := now.Add(-r.cfg.SignInWindow)
	since := from
	if !r.signInsFrom.IsZero() && r.signInsFrom.After(since) {
		since = r.signInsFrom.Add(-signInOverlap)
	}
	if since.Before(from) {
		since = from
	}
	var ors []string
	for _, c := range basicClients {
		ors = append(ors, "clientAppUsed eq '"+c+"'")
	}
	filter := "createdDateTime ge " + since.UTC().Format("2006-01-02T15:04:05Z") + " and (" + strings.Join(ors, " or ") + ")"
	path := "/auditLogs/signIns?$filter=" + url.QueryEscape(filter) + "&$top=1000"
	const what = "GET /auditLogs/signIns"
	got := map[string]snapshot.SignIn{}
	truncated, err := r.c.graphList(ctx, what, wlReports, path, func(raw json.RawMessage) error {
		var v struct {
			ID                string    `json:"id"`
			CreatedDateTime   time.Time `json:"createdDateTime"`
			UserPrincipalName string    `json:"userPrincipalName"`
			AppID             string    `json:"appId"`
			AppDisplayName    string    `json:"appDisplayName"`
			IPAddress         string    `json:"ipAddress"`
			ClientAppUsed     string    `json:"clientAppUsed"`
			Status            struct {
				ErrorCode     int     `json:"errorCode"`
				FailureReason *string `json:"failureReason"`
			} `json:"status"`
			Applied []struct {
				DisplayName string `json:"displayName"`
				Result      string `json:"result"`
			} `json:"appliedConditionalAccessPolicies"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return errors.New("a sign-in is not the JSON Graph documents")
		}
		si := snapshot.SignIn{ID: v.ID, CreatedDateTime: v.CreatedDateTime, UserPrincipalName: strings.ToLower(v.UserPrincipalName),
			AppID: v.AppID, AppDisplayName: cleanText(v.AppDisplayName, 120), IPAddress: cleanText(v.IPAddress, 64),
			ClientAppUsed: cleanText(v.ClientAppUsed, 64), ErrorCode: v.Status.ErrorCode}
		if v.Status.FailureReason != nil {
			si.FailureReason = cleanText(*v.Status.FailureReason, 200)
		}
		for _, a := range v.Applied {
			if a.Result == "failure" {
				si.FailedCAPolicies = append(si.FailedCAPolicies, cleanText(a.DisplayName, 120))
			}
		}
		if si.Protocol() == "" {
			return nil // the filter's job; keep only the three protocols
		}
		got[si.ID] = si
		return nil
	})
	if err != nil {
		return failed(needs(err, "the Microsoft Graph application permission AuditLog.Read.All"))
	}
	for id, si := range got {
		r.signIns[id] = si
	}
	for id, si := range r.signIns {
		if si.CreatedDateTime.Before(from) {
			delete(r.signIns, id)
		}
	}
	r.signInsFrom = now
	rows := make([]snapshot.SignIn, 0, len(r.signIns))
	for _, si := range r.signIns {
		rows = append(rows, si)
	}
	slices.SortFunc(rows, func(a, b snapshot.SignIn) int { return b.CreatedDateTime.Compare(a.CreatedDateTime) })
	pt := part{ok: true, apply: func(s *snapshot.Snapshot) {
		s.SignIns = slices.Clone(rows)
		s.SignInsRead = true
		s.SignInsSince = from
	}}
	if truncated {
		pt.prob = &snapshot.Problem{What: what, Kind: snapshot.KindTruncated,
			Why: fmt.Sprintf("the log has more than %d pages in the window; the newest are shown", maxPages)}
	}
	return pt
}

// needs names the permission in a permission problem.
func needs(err error, perm string) error {
	var re *ReadError
	if errors.As(err, &re) && re.Kind == snapshot.KindPermission && re.Need == "" {
		re.Need = perm
	}
	return err
}

// odataString doubles single quotes inside an OData string literal.
func odataString(s string) string { return strings.ReplaceAll(s, "'", "''") }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		k := strings.ToLower(strings.TrimSpace(v))
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

// LocalCertificate reads the NotAfter of the first certificate in a PEM
// file (the probe app's or the reader's own cert_file), as a credential
// that can expire like the ones Graph lists.
func LocalCertificate(path string) (snapshot.Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return snapshot.Credential{}, fmt.Errorf("certificate file: %w", err)
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return snapshot.Credential{}, fmt.Errorf("certificate file %s: no certificate in it", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return snapshot.Credential{}, fmt.Errorf("certificate file %s: %w", path, err)
		}
		return snapshot.Credential{Kind: "certificate", KeyID: fmt.Sprintf("%X", c.SerialNumber), DisplayName: path,
			EndDateTime: c.NotAfter, Source: "local"}, nil
	}
}

// capTransport bounds every response body to n bytes.
type capTransport struct {
	rt http.RoundTripper
	n  int64
}

func (c capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if resp != nil && resp.Body != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, c.n), resp.Body}
	}
	return resp, err
}

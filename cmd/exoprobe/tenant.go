package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/inspect"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
)

func init() {
	register("tenant", "read the tenant's own settings (read-only): exoprobe tenant audit", runTenant)
}

const tenantUsage = `usage: exoprobe tenant audit --config exoprobe.yaml [--tenant NAME] [--output text|json]
       exoprobe tenant audit --endpoints endpoints.json   (the emulator)

Reads the tenant with the read-only app of tenants.NAME.tenant_reads and
prints its posture for mail logins: SMTP AUTH (organization and every
mailbox), authentication policies, security defaults, Conditional Access
for legacy clients, the watched apps' secrets and certificates, and every
user, app and IP that logged in with Basic SMTP, IMAP or POP in the
sign-in log's window (including mailboxes no check covers).

Exit status: 0 the tenant could be read (parts that could not are listed),
1 nothing could be read, 2 usage or configuration error.

flags:
`

func runTenant(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "audit" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stderr, tenantUsage)
			return exitOK
		}
		fmt.Fprint(stderr, tenantUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("tenant audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config with tenants: and tenant_reads:")
	name := fs.String("tenant", "", "tenant name under tenants: (default: the only one with tenant_reads)")
	endpoints := fs.String("endpoints", "", "emulator endpoints.json: reads the emulator's tenant")
	output := fs.String("output", "text", "text or json")
	window := fs.Duration("signin-window", 0, "how far back to read the sign-in log (default the config's, else 7 days)")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline of the whole audit")
	fs.Usage = func() { fmt.Fprint(stderr, tenantUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		return parseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exoprobe tenant audit: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "exoprobe tenant audit: --output must be text or json, not %q\n", *output)
		return exitUsage
	}
	if (*cfgPath == "") == (*endpoints == "") {
		fmt.Fprintln(stderr, "exoprobe tenant audit: give --config or --endpoints (one of them)")
		return exitUsage
	}
	var (
		tr  *tenantReader
		err error
	)
	if *endpoints != "" {
		tr, err = readerFromEndpoints(*endpoints, *window)
	} else {
		var cfg *config.Config
		if cfg, err = config.Load(*cfgPath); err == nil {
			tr, err = readerFromConfig(cfg, *name, *window)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe tenant audit: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	snap := tr.reader.Read(ctx, inspect.Request{AllMailboxes: true, Mailboxes: tr.covered, Apps: tr.apps, SignIns: tr.signIns, Force: true})
	a := inspect.BuildAudit(snap, inspect.AuditOptions{Covered: tr.covered, ExpiryWarning: tr.expiry, Local: tr.localCreds(stderr)})
	a.Problems = scrubAll(a.Problems, tr.secret)
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			fmt.Fprintf(stderr, "exoprobe tenant audit: %v\n", err)
			return exitUsage
		}
	} else {
		writeAuditText(stdout, a)
	}
	if !inspect.ReadAnything(snap) {
		return exitFail
	}
	return exitOK
}

// tenantReader is a reader with what it is used for.
type tenantReader struct {
	reader  *inspect.Reader
	covered []string // mailboxes the config's checks cover
	apps    []string
	certs   []string // local certificate files to watch
	signIns bool
	expiry  time.Duration
	secret  string // to scrub from every line shown
}

func (t *tenantReader) localCreds(stderr io.Writer) []snapshot.Credential {
	var out []snapshot.Credential
	for _, f := range t.certs {
		c, err := inspect.LocalCertificate(f)
		if err != nil {
			fmt.Fprintf(stderr, "exoprobe: %v\n", err)
			continue
		}
		out = append(out, c)
	}
	return out
}

func scrubAll(lines []string, secret string) []string {
	if len(secret) < 4 {
		return lines
	}
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(l, secret, "[REDACTED]")
	}
	return lines
}

// readerFromConfig makes the reader of tenant name (or of the only tenant
// with tenant_reads).
func readerFromConfig(cfg *config.Config, name string, window time.Duration) (*tenantReader, error) {
	if name == "" {
		var with []string
		for _, n := range cfg.TenantNames() {
			if cfg.Tenants[n].Reads != nil {
				with = append(with, n)
			}
		}
		switch len(with) {
		case 0:
			return nil, errors.New("no tenant has tenant_reads: in the config")
		case 1:
			name = with[0]
		default:
			return nil, fmt.Errorf("several tenants have tenant_reads (%s): pick one with --tenant", strings.Join(with, ", "))
		}
	}
	ten, ok := cfg.Tenants[name]
	if !ok {
		return nil, fmt.Errorf("no tenant %q under tenants:", name)
	}
	if ten.Reads == nil {
		return nil, fmt.Errorf("tenant %q has no tenant_reads:", name)
	}
	r := ten.Reads
	ic := inspect.Config{Name: name, TenantID: ten.TenantID, ClientID: r.ClientID, Authority: r.Authority,
		GraphURL: r.GraphURL, ExchangeURL: r.ExchangeURL, ExchangeAdmin: r.ExchangeAdmin, TTL: r.TTL.D(), SignInWindow: r.SignInWindow.D()}
	if window > 0 {
		ic.SignInWindow = window
	}
	tr := &tenantReader{signIns: r.SignInsOn(), expiry: r.ExpiryWarning.D()}
	if tr.expiry <= 0 {
		tr.expiry = config.DefaultExpiryWarning
	}
	if r.CertFile != "" {
		b, err := os.ReadFile(r.CertFile)
		if err != nil {
			return nil, fmt.Errorf("tenants.%s.tenant_reads.cert_file: %w", name, err)
		}
		ic.CertPEM = b
		tr.certs = append(tr.certs, r.CertFile)
	} else {
		v, err := r.ClientSecret().Value()
		if err != nil {
			return nil, fmt.Errorf("tenants.%s.tenant_reads: %w", name, err)
		}
		ic.ClientSecret, tr.secret = v, v
	}
	if r.CAFile != "" {
		pool, err := loadCA(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tenants.%s.tenant_reads.ca_file: %w", name, err)
		}
		ic.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, Proxy: http.ProxyFromEnvironment}}
	}
	rd, err := inspect.New(ic)
	if err != nil {
		return nil, err
	}
	tr.reader = rd
	for i := range cfg.Targets {
		if cfg.TenantOf(&cfg.Targets[i]) == name {
			tr.covered = append(tr.covered, strings.ToLower(cfg.Targets[i].User))
		}
	}
	ids, certs := cfg.WatchedApps(name)
	tr.apps = ids
	tr.certs = append(tr.certs, certs...)
	return tr, nil
}

// emulatorEndpoints are the keys of endpoints.json the reads need; they
// are read loosely so that an older emulator's file still works for the
// rest of exoprobe.
type emulatorEndpoints struct {
	TenantID  string `json:"tenant_id"`
	Authority string `json:"authority"`
	CAFile    string `json:"ca_file"`
	// GraphURL is Graph's root (no /v1.0); ExchangeAdminURL Exchange's
	// root, InvokeCommandURL the full endpoint (sim.Endpoints).
	GraphURL         string `json:"graph_url"`
	ExchangeAdminURL string `json:"exchange_admin_url"`
	InvokeCommandURL string `json:"invoke_command_url"`
	Reader           *struct {
		ClientID         string `json:"client_id"`
		ClientSecret     string `json:"client_secret"`
		ClientSecretFile string `json:"client_secret_file"`
	} `json:"reader"`
	Demo *struct {
		ClientID string `json:"client_id"`
		User     string `json:"user"`
	} `json:"demo"`
	Users []struct {
		UPN string `json:"upn"`
	} `json:"users"`
	Apps []struct {
		ClientID string `json:"client_id"`
	} `json:"apps"`
}

func readEmulatorEndpoints(path string) (*emulatorEndpoints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--endpoints: %w", err)
	}
	var e emulatorEndpoints
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("--endpoints %s: %w", path, err)
	}
	if e.GraphURL == "" || e.Reader == nil || e.Reader.ClientID == "" {
		return nil, fmt.Errorf("--endpoints %s: this emulator serves no tenant reads (no graph_url or reader app in it)", path)
	}
	return &e, nil
}

// readerFromEndpoints reads the emulator's tenant with its reader app; the
// demo mailbox counts as covered (exoprobe check --endpoints checks it).
func readerFromEndpoints(path string, window time.Duration) (*tenantReader, error) {
	e, err := readEmulatorEndpoints(path)
	if err != nil {
		return nil, err
	}
	secret := e.Reader.ClientSecret
	if e.Reader.ClientSecretFile != "" {
		b, err := os.ReadFile(e.Reader.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--endpoints: reader secret: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	tlsCfg, err := tlsConfig(e.CAFile)
	if err != nil {
		return nil, err
	}
	authority := e.Authority
	if i := strings.Index(authority[min(len(authority), len("https://")):], "/"); i >= 0 {
		authority = authority[:len("https://")+i] // host only: the reader adds the tenant
	}
	graph := strings.TrimRight(e.GraphURL, "/")
	if !strings.HasSuffix(graph, "/v1.0") {
		graph += "/v1.0"
	}
	exo := e.ExchangeAdminURL
	if e.InvokeCommandURL != "" {
		exo = strings.TrimSuffix(e.InvokeCommandURL, "/InvokeCommand")
	}
	ic := inspect.Config{Name: firstNonEmptyStr(e.TenantID, "emulator"), TenantID: e.TenantID, ClientID: e.Reader.ClientID,
		ClientSecret: secret, Authority: authority, GraphURL: graph, ExchangeURL: exo,
		ExchangeAdmin: true, SignInWindow: window,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}}
	rd, err := inspect.New(ic)
	if err != nil {
		return nil, err
	}
	tr := &tenantReader{reader: rd, signIns: true, expiry: config.DefaultExpiryWarning, secret: secret}
	if e.Demo != nil {
		tr.covered = []string{strings.ToLower(e.Demo.User)}
		tr.apps = append(tr.apps, e.Demo.ClientID)
	}
	for _, a := range e.Apps {
		if a.ClientID != "" && (e.Demo == nil || a.ClientID != e.Demo.ClientID) {
			tr.apps = append(tr.apps, a.ClientID)
		}
	}
	return tr, nil
}

func boolText(b *bool, null string) string {
	if b == nil {
		return null
	}
	if *b {
		return "True"
	}
	return "False"
}

// writeAuditText is the audit for people.
func writeAuditText(w io.Writer, a inspect.Audit) {
	fmt.Fprintf(w, "Tenant: %s (read %s)\n", a.Tenant, a.ReadAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "\nBasic SMTP AUTH cut-off: %s (%d days left)\n", a.Cutoff.Date.Format("2006-01-02"), a.Cutoff.DaysLeft)
	if len(a.Cutoff.BasicSMTPUsers) > 0 {
		fmt.Fprintf(w, "  will break unless moved to OAuth: %s\n", strings.Join(a.Cutoff.BasicSMTPUsers, ", "))
	}
	fmt.Fprintln(w, "\nOrganization")
	if a.TransportConfig != nil {
		fmt.Fprintf(w, "  Get-TransportConfig: SmtpClientAuthenticationDisabled = %s\n", boolText(&a.TransportConfig.SmtpClientAuthenticationDisabled, ""))
	}
	if a.SecurityDefaults != nil {
		fmt.Fprintf(w, "  Security defaults: isEnabled = %t\n", a.SecurityDefaults.IsEnabled)
	}
	if len(a.AuthenticationPolicies) > 0 {
		fmt.Fprintln(w, "\nAuthentication policies")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tSMTP\tIMAP\tPOP\tDEFAULT")
		for _, p := range a.AuthenticationPolicies {
			fmt.Fprintf(tw, "  %s\t%t\t%t\t%t\t%t\n", p.Name, p.AllowBasicAuthSmtp, p.AllowBasicAuthImap, p.AllowBasicAuthPop, p.IsDefault)
		}
		tw.Flush()
	}
	if len(a.Mailboxes) > 0 {
		fmt.Fprintln(w, "\nMailboxes")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  MAILBOX\tSMTP AUTH\t(SOURCE)\tIMAP\tPOP\tPOLICY\tCHECKED")
		for _, m := range a.Mailboxes {
			smtp, src := "?", ""
			if m.SMTPAuth != nil {
				smtp, src = map[bool]string{true: "on", false: "off"}[m.SMTPAuth.Enabled], m.SMTPAuth.Source
			}
			pol := "-"
			if m.AuthenticationPolicy != nil {
				pol = *m.AuthenticationPolicy + " (" + m.PolicySource + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%t\n", m.Address, smtp, src, boolText(m.ImapEnabled, "?"), boolText(m.PopEnabled, "?"), pol, m.Covered)
		}
		tw.Flush()
	}
	if len(a.ConditionalAccess) > 0 {
		fmt.Fprintln(w, "\nConditional Access for legacy clients")
		for _, p := range a.ConditionalAccess {
			fmt.Fprintf(w, "  %s: state %s, grant %s, users %s, blocks legacy: %t\n", p.DisplayName, p.State,
				strings.Join(p.BuiltInControls, ","), strings.Join(p.IncludeUsers, ","), p.Blocks)
		}
	}
	if len(a.AppCredentials) > 0 {
		fmt.Fprintln(w, "\nApp credentials")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  APP\tTYPE\tNAME\tEXPIRES\tDAYS LEFT\tSTATE")
		for _, c := range a.AppCredentials {
			state := "ok"
			switch {
			case c.Expired:
				state = "EXPIRED"
			case c.Expiring:
				state = "EXPIRING"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", firstNonEmptyStr(c.AppName, c.AppID, c.Source), c.Type, firstNonEmptyStr(c.DisplayName, c.KeyID),
				c.EndDateTime.UTC().Format("2006-01-02"), c.DaysLeft, state)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\nBasic sign-ins (SMTP, IMAP, POP) in the sign-in log")
	if len(a.BasicAuthSignIns) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  USER\tPROTOCOL\tIP\tAPP\tOK\tFAILED\tLAST SEEN\tCHECKED")
		for _, s := range a.BasicAuthSignIns {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%t\n", s.UserPrincipalName, s.ClientAppUsed, s.IPAddress, firstNonEmptyStr(s.AppDisplayName, "-"),
				s.Successes, s.Failures, s.LastSeen.UTC().Format(time.RFC3339), s.Covered)
		}
		tw.Flush()
	}
	if len(a.Problems) > 0 {
		fmt.Fprintln(w, "\nNot read")
		for _, p := range a.Problems {
			fmt.Fprintln(w, "  "+p)
		}
	}
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/probe/token"
	"github.com/exoprobe/exoprobe/report"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/sim"
)

func init() {
	register("check", "probe IMAP, POP and SMTP logins of one mailbox now and explain failures", runCheck)
}

const checkUsage = `usage: exoprobe check --user MAILBOX [credentials] [servers] [flags]
       exoprobe check --endpoints endpoints.json          (the emulator's demo mailbox)
       exoprobe check --config exoprobe.yaml              (every target of a config)

Logs in once per protocol × mechanism, prints a table (result, cause, the
server's words, time) and then each finding with its remedy.

Secrets are read from files or environment variables only, never from the
command line (it shows in ps and shell history).

With --config, each check's expect: is honoured: an "expect: fail" check
(Basic must stay off) that is refused is as expected; one that logs in is
reported UNEXPECTEDLY OK and fails the run. --protocols and --mechanisms
narrow the file's checks; --timeout overrides its timeouts.

Exit status: 0 every check met its expectation, 1 some check failed or
left its expectation, 2 usage or configuration error.

flags:
`

// checkFlags are the flags of `exoprobe check`.
type checkFlags struct {
	user, passwordFile, passwordEnv, tokenFile, tokenEnv           string
	tenant, clientID, clientSecretFile, clientSecretEnv, certFile  string
	authority, tokenURL, scope, refreshTokenFile                   string
	ropc                                                           bool
	imapAddr, popAddr, smtpAddr                                    string
	imapStartTLS, popStartTLS, smtpImplicitTLS, allowPlaintext     bool
	submitCheck, popAuthPlain, popXOAUTH2OneLine                   bool
	caFile, protocols, mechanisms, endpoints, output, lang, config string
	authPolicy                                                     string
	timeout                                                        time.Duration
	transcript                                                     bool
	// tenantReads: read the tenant's settings to confirm causes.
	tenantReads bool
	// set holds the flags given on the command line (not defaults).
	set map[string]bool
}

// usageError is a bad flag combination or configuration: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f checkFlags
	fs.StringVar(&f.user, "user", "", "mailbox to log in as (UPN / e-mail address)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the Basic password")
	fs.StringVar(&f.passwordEnv, "password-env", "", "environment variable holding the Basic password")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding a ready access token for XOAUTH2")
	fs.StringVar(&f.tokenEnv, "token-env", "", "environment variable holding a ready access token")
	fs.StringVar(&f.tenant, "tenant", "", "Entra tenant (id or domain) for getting a token")
	fs.StringVar(&f.clientID, "client-id", "", "application (client) id for getting a token")
	fs.StringVar(&f.clientSecretFile, "client-secret-file", "", "file holding the client secret")
	fs.StringVar(&f.clientSecretEnv, "client-secret-env", "", "environment variable holding the client secret")
	fs.StringVar(&f.certFile, "cert-file", "", "PEM file with the app's certificate and private key (client credentials)")
	fs.StringVar(&f.authority, "authority", "", "Entra authority URL (default https://login.microsoftonline.com/<tenant>)")
	fs.StringVar(&f.tokenURL, "token-url", "", "generic OAuth 2.0 token URL (client credentials via x/oauth2; not Entra)")
	fs.StringVar(&f.scope, "scope", "", "token scope (default "+token.ScopeExchangeApp+"; delegated scopes for --refresh-token-file)")
	fs.StringVar(&f.refreshTokenFile, "refresh-token-file", "", "file holding a delegated refresh token (rotated tokens are written back)")
	fs.BoolVar(&f.ropc, "ropc", false, "diagnostic: get a token with the password grant (a real sign-in; counts toward lockout)")
	fs.StringVar(&f.imapAddr, "imap-addr", "", "IMAP host:port (default "+probe.DefaultIMAPAddr+")")
	fs.StringVar(&f.popAddr, "pop-addr", "", "POP host:port (default "+probe.DefaultPOPAddr+")")
	fs.StringVar(&f.smtpAddr, "smtp-addr", "", "SMTP host:port (default "+probe.DefaultSMTPAddr+")")
	fs.BoolVar(&f.imapStartTLS, "imap-starttls", false, "IMAP on a plaintext port with STARTTLS (143)")
	fs.BoolVar(&f.popStartTLS, "pop-starttls", false, "POP on a plaintext port with STLS (110)")
	fs.BoolVar(&f.smtpImplicitTLS, "smtp-implicit-tls", false, "SMTP with TLS from the first byte (465)")
	fs.BoolVar(&f.allowPlaintext, "allow-plaintext", false, "allow credentials over a connection without TLS")
	fs.BoolVar(&f.submitCheck, "submit-check", false, "SMTP: MAIL FROM/RCPT TO + RSET after AUTH (never DATA)")
	fs.BoolVar(&f.popAuthPlain, "pop-auth-plain", false, "POP Basic: AUTH PLAIN instead of USER/PASS")
	fs.BoolVar(&f.popXOAUTH2OneLine, "pop-xoauth2-oneline", false, "POP XOAUTH2: initial response on the AUTH line")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA bundle to trust in addition to the system's")
	fs.StringVar(&f.protocols, "protocols", "imap,pop,smtp", "protocols to check")
	fs.StringVar(&f.mechanisms, "mechanisms", "", "mechanisms to check: basic,xoauth2 (default: those with credentials)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each login attempt")
	fs.StringVar(&f.endpoints, "endpoints", "", "emulator endpoints.json: fills servers, CA, authority and (without credentials) the demo mailbox")
	fs.StringVar(&f.output, "output", "text", "text or json")
	fs.StringVar(&f.lang, "lang", "en", "en or ja")
	fs.BoolVar(&f.transcript, "transcript", false, "show each attempt's conversation (credentials redacted)")
	fs.StringVar(&f.config, "config", "", "YAML config: check every target in it")
	fs.BoolVar(&f.tenantReads, "tenant-reads", false, "read the tenant's settings (read-only app of tenants: tenant_reads:, or the emulator's with --endpoints) to confirm causes and fill remedies")
	fs.StringVar(&f.authPolicy, "auth-policy", "", "name of the Exchange authentication policy that applies to the user, for the remedies' <policy> (config: auth_policy)")
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return parseExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exoprobe check: unexpected argument %q (secrets go in files or environment variables)\n", fs.Arg(0))
		return exitUsage
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	plans, err := f.plans(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe check: %v\n", err)
		return exitUsage
	}

	for _, pl := range plans {
		if pl.target.AllowPlaintext {
			fmt.Fprintf(stderr, "exoprobe check: WARNING: allow_plaintext is on%s: where a server offers no TLS, "+
				"the password or token is sent in clear text\n", orEmpty(" for "+pl.target.Name, pl.target.Name))
		}
	}

	var tenants *checkTenants
	if f.tenantReads {
		if tenants, err = prepareTenantReads(&f); err != nil {
			fmt.Fprintf(stderr, "exoprobe check: %v\n", err)
			return exitUsage
		}
	}
	// Progress only where a person watches (a terminal) and a wait is
	// likely (several targets); it never mixes into stdout.
	// Our own cursor controls go to the terminal itself (report.Raw);
	// the line, which may quote a server, is made inert first.
	progress := len(plans) > 1 && checkIsTerminal(report.Raw(stderr))
	results := runPlans(context.Background(), plans, f.timeout, func(done, total int, line string) {
		if progress {
			fmt.Fprintf(report.Raw(stderr), "\r[%d/%d] %s\x1b[K", done, total, report.Inert(line))
		}
	})
	if progress {
		fmt.Fprint(report.Raw(stderr), "\r\x1b[K")
	}

	if tenants != nil {
		applyTenantReads(context.Background(), tenants, results)
		if note := tenantReadsNote(results); note != "" {
			fmt.Fprintln(stderr, "exoprobe check: "+note)
		}
	}
	code := exitOK
	for i := range results {
		results[i].Lang = f.lang
		results[i].Transcript = f.transcript
		if !results[i].AllAsExpected() {
			code = exitFail
		}
	}
	// Say it again after the results, where it cannot scroll away: which
	// attempts really sent credentials over a connection without TLS.
	warnOut := stdout
	if f.output == "json" {
		warnOut = stderr // keep stdout valid JSON
	}
	defer func() {
		for i, r := range results {
			if !plans[i].target.AllowPlaintext {
				continue
			}
			for _, a := range r.Attempts {
				if a.TLSVersion == "" && authReached(a.Stage) {
					fmt.Fprintf(warnOut, "WARNING: %s/%s%s: credentials were sent WITHOUT TLS (allow_plaintext)\n",
						a.Protocol, a.Mechanism, orEmpty(" to "+a.Server, a.Server))
				}
			}
		}
	}()
	switch f.output {
	case "json":
		if len(results) == 1 && f.config == "" {
			err = report.WriteJSON(stdout, results[0])
		} else {
			err = report.WriteJSONAll(stdout, results)
		}
	default:
		if f.config != "" && len(results) > 1 {
			// A fleet: one table of targets × checks and the findings
			// grouped by incident, not one table per target.
			err = report.WriteFleet(stdout, results, f.lang)
			break
		}
		for i, r := range results {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if err = report.WriteText(stdout, r, f.lang); err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe check: %v\n", err)
		return exitUsage
	}
	return code
}

// plan is one target and the checks to run on it.
type plan struct {
	target *probe.Target
	checks []probe.Check
	// expect and timeout are per check, same order; a missing expect is
	// "ok" and a zero timeout is --timeout.
	expect  []string
	timeout []time.Duration
	vars    diagnose.Vars
}

func (f *checkFlags) plans(stderr io.Writer) ([]plan, error) {
	switch f.output {
	case "text", "json":
	default:
		return nil, usagef("--output must be text or json, not %q", f.output)
	}
	switch f.lang {
	case "en", "ja":
	default:
		return nil, usagef("--lang must be en or ja, not %q", f.lang)
	}
	if f.timeout <= 0 {
		return nil, usagef("--timeout must be positive")
	}
	if f.tenantReads && f.config == "" && f.endpoints == "" {
		return nil, usagef("--tenant-reads needs --config (tenants: with tenant_reads:) or --endpoints")
	}
	if f.config != "" {
		return f.configPlans(stderr)
	}
	p, err := f.singlePlan()
	if err != nil {
		return nil, err
	}
	return []plan{p}, nil
}

// secretFrom reads a secret from a file or an environment variable, lazily
// for the probe (a rotated password file is picked up by the next run).
func secretFrom(file, env, what string) (func(context.Context) (string, error), error) {
	switch {
	case file != "" && env != "":
		return nil, usagef("give --%s-file or --%s-env, not both", what, what)
	case file != "":
		if _, err := os.Stat(file); err != nil {
			return nil, usagef("--%s-file: %v", what, err)
		}
		return func(context.Context) (string, error) {
			b, err := os.ReadFile(file)
			if err != nil {
				return "", err
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, usagef("--%s-env: $%s is not set", what, env)
		}
		return func(context.Context) (string, error) { return v, nil }, nil
	}
	return nil, nil
}

func (f *checkFlags) singlePlan() (plan, error) {
	var ep sim.Endpoints
	if f.endpoints != "" {
		e, err := sim.ReadEndpoints(f.endpoints)
		if err != nil {
			return plan{}, usagef("--endpoints: %v", err)
		}
		ep = *e
	}
	pick := func(flagVal string, starttls bool, tlsAddr, stAddr string) string {
		if flagVal != "" {
			return flagVal
		}
		if starttls {
			return stAddr
		}
		return tlsAddr
	}
	t := &probe.Target{
		User:            f.user,
		IMAPAddr:        pick(f.imapAddr, f.imapStartTLS, ep.IMAP.TLS, ep.IMAP.StartTLS),
		POPAddr:         pick(f.popAddr, f.popStartTLS, ep.POP.TLS, ep.POP.StartTLS),
		SMTPAddr:        firstNonEmptyStr(f.smtpAddr, ep.SMTP.StartTLS),
		IMAPStartTLS:    f.imapStartTLS,
		POPStartTLS:     f.popStartTLS,
		SMTPImplicitTLS: f.smtpImplicitTLS,
		AllowPlaintext:  f.allowPlaintext,
		SMTPSubmitCheck: f.submitCheck,
		POPAuthPlain:    f.popAuthPlain,

		POPXOAUTH2OneLine: f.popXOAUTH2OneLine,
	}
	caFile := firstNonEmptyStr(f.caFile, ep.CAFile)
	tlsCfg, err := tlsConfig(caFile)
	if err != nil {
		return plan{}, err
	}
	t.TLSConfig = tlsCfg
	authority := firstNonEmptyStr(f.authority, ep.Authority)

	password, err := secretFrom(f.passwordFile, f.passwordEnv, "password")
	if err != nil {
		return plan{}, err
	}
	secret, err := secretFrom(f.clientSecretFile, f.clientSecretEnv, "client-secret")
	if err != nil {
		return plan{}, err
	}
	static, err := secretFrom(f.tokenFile, f.tokenEnv, "token")
	if err != nil {
		return plan{}, err
	}
	clientID, tenant := f.clientID, f.tenant
	noCreds := password == nil && secret == nil && static == nil && f.certFile == "" && f.refreshTokenFile == ""
	if noCreds && ep.Demo != nil {
		// The emulator's demo mailbox: the healthy path out of the box.
		d := ep.Demo
		t.User = firstNonEmptyStr(t.User, d.User)
		pw, cs := d.Password, d.ClientSecret
		password = func(context.Context) (string, error) { return pw, nil }
		if cs != "" {
			secret = func(context.Context) (string, error) { return cs, nil }
		}
		clientID = firstNonEmptyStr(clientID, d.ClientID)
		tenant = firstNonEmptyStr(tenant, d.Tenant)
	}
	tenant = firstNonEmptyStr(tenant, ep.TenantID)
	if t.User == "" {
		return plan{}, usagef("--user is required (or --endpoints with a demo mailbox)")
	}
	t.Name = t.User
	t.Password = password

	httpClient := &http.Client{Timeout: f.timeout, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}
	ctx := context.Background()
	switch {
	case static != nil:
		tok, err := static(ctx)
		if err != nil {
			return plan{}, usagef("token: %v", err)
		}
		t.Token = probe.StaticToken(tok)
	case f.refreshTokenFile != "":
		if clientID == "" {
			return plan{}, usagef("--refresh-token-file needs --client-id")
		}
		o := token.OAuth2{ClientID: clientID, Scopes: strings.Fields(firstNonEmptyStr(f.scope, token.ScopesDelegated)), HTTPClient: httpClient,
			TokenURL: firstNonEmptyStr(f.tokenURL, token.Entra{Authority: authority, Tenant: tenant}.TokenURL())}
		if secret != nil {
			o.ClientSecret, _ = secret(ctx)
		}
		t.Token = token.NewCached(token.RefreshToken(o, f.refreshTokenFile))
	case f.ropc:
		if clientID == "" || password == nil {
			return plan{}, usagef("--ropc needs --client-id and a password")
		}
		o := token.OAuth2{ClientID: clientID, Scopes: strings.Fields(firstNonEmptyStr(f.scope, token.ScopesDelegated)), HTTPClient: httpClient,
			TokenURL: firstNonEmptyStr(f.tokenURL, token.Entra{Authority: authority, Tenant: tenant}.TokenURL())}
		if secret != nil {
			o.ClientSecret, _ = secret(ctx)
		}
		user := t.User
		t.Token = token.NewCached(token.Password(o, user, password))
	case f.tokenURL != "" && secret != nil:
		cs, _ := secret(ctx)
		t.Token = token.NewCached(token.GenericClientCredentials(token.OAuth2{
			TokenURL: f.tokenURL, ClientID: clientID, ClientSecret: cs, HTTPClient: httpClient,
			Scopes: strings.Fields(firstNonEmptyStr(f.scope, token.ScopeExchangeApp)),
		}))
	case secret != nil || f.certFile != "":
		if clientID == "" {
			return plan{}, usagef("client credentials need --client-id")
		}
		if tenant == "" && authority == "" {
			return plan{}, usagef("client credentials need --tenant or --authority")
		}
		e := token.Entra{Authority: authority, Tenant: tenant, ClientID: clientID, Scope: f.scope, HTTPClient: httpClient}
		if f.certFile != "" {
			pemBytes, err := os.ReadFile(f.certFile)
			if err != nil {
				return plan{}, usagef("--cert-file: %v", err)
			}
			e.CertPEM = pemBytes
		} else {
			e.ClientSecret, _ = secret(ctx)
		}
		fetch, err := token.ClientCredentials(e)
		if err != nil {
			return plan{}, usagef("%v", err)
		}
		t.Token = token.NewCached(fetch)
	}

	protos, err := parseList(f.protocols, []string{"imap", "pop", "smtp"}, "--protocols")
	if err != nil {
		return plan{}, err
	}
	var mechs []string
	if f.mechanisms == "" {
		if t.Password != nil {
			mechs = append(mechs, "basic")
		}
		if t.Token != nil {
			mechs = append(mechs, "xoauth2")
		}
		if len(mechs) == 0 {
			return plan{}, usagef("no credentials: give --password-file/--password-env, a token, or client credentials")
		}
	} else {
		if mechs, err = parseList(f.mechanisms, []string{"basic", "xoauth2"}, "--mechanisms"); err != nil {
			return plan{}, err
		}
		for _, m := range mechs {
			if m == "basic" && t.Password == nil {
				return plan{}, usagef("--mechanisms basic needs --password-file or --password-env")
			}
			if m == "xoauth2" && t.Token == nil {
				return plan{}, usagef("--mechanisms xoauth2 needs a token (--token-file/--token-env) or client credentials")
			}
		}
	}
	// No protocol reveals which authentication policy applies to a user:
	// only the admin can say (--auth-policy); without it <policy> stays and
	// the remedy's inspect lines say how to find it.
	p := plan{target: t, vars: diagnose.Vars{Mailbox: t.User, User: t.User, AppID: clientID, Tenant: tenant, Policy: f.authPolicy}}
	for _, pr := range protos {
		for _, m := range mechs {
			p.checks = append(p.checks, probe.Check{Target: t, Protocol: probe.Protocol(pr), Mechanism: probe.Mechanism(m)})
		}
	}
	return p, nil
}

func parseList(s string, allowed []string, flagName string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.ToLower(strings.TrimSpace(v))
		if v == "" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == v
		}
		if !ok {
			return nil, usagef("%s: unknown value %q (allowed: %s)", flagName, v, strings.Join(allowed, ","))
		}
		dup := false
		for _, o := range out {
			dup = dup || o == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, usagef("%s is empty", flagName)
	}
	// Display order, whatever the order given.
	var ordered []string
	for _, a := range allowed {
		for _, o := range out {
			if o == a {
				ordered = append(ordered, a)
			}
		}
	}
	return ordered, nil
}

// tlsConfig trusts the system roots plus the CA file, if any.
func tlsConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, usagef("--ca-file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("--ca-file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// targetFlags describe one target; with --config the file does.
var targetFlags = []string{
	"user", "password-file", "password-env", "token-file", "token-env", "tenant", "client-id",
	"client-secret-file", "client-secret-env", "cert-file", "authority", "token-url", "scope",
	"refresh-token-file", "ropc", "imap-addr", "pop-addr", "smtp-addr", "imap-starttls", "pop-starttls",
	"smtp-implicit-tls", "allow-plaintext", "submit-check", "pop-auth-plain", "pop-xoauth2-oneline",
	"ca-file", "endpoints", "auth-policy",
}

// configPlans makes one plan per target of the config file, with the
// daemon's own conversion of targets and credentials (buildSpecs), so that
// check and run cannot disagree about a config. --protocols and
// --mechanisms, when given, narrow the checks; --timeout, when given,
// overrides the file's timeouts.
func (f *checkFlags) configPlans(stderr io.Writer) ([]plan, error) {
	for _, name := range targetFlags {
		if f.set[name] {
			return nil, usagef("--%s cannot be combined with --config: targets, servers and credentials come from the file", name)
		}
	}
	var protos, mechs []string
	var err error
	if f.set["protocols"] {
		if protos, err = parseList(f.protocols, []string{"imap", "pop", "smtp"}, "--protocols"); err != nil {
			return nil, err
		}
	}
	if f.set["mechanisms"] {
		if mechs, err = parseList(f.mechanisms, []string{"basic", "xoauth2"}, "--mechanisms"); err != nil {
			return nil, err
		}
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		// config's errors carry the file name and line numbers.
		return nil, usageError{err.Error()}
	}
	// buildSpecs warns about a target whose OAuth app cannot be set up;
	// that target's XOAUTH2 checks then fail and say why.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	specs, err := buildSpecs(cfg, log)
	if err != nil {
		return nil, usagef("config %s: %v", f.config, err)
	}
	vars := map[string]diagnose.Vars{}
	for i := range cfg.Targets {
		ct := &cfg.Targets[i]
		v := diagnose.Vars{Mailbox: ct.User, User: ct.User, Policy: ct.AuthPolicy}
		if app := cfg.App(ct); app != nil {
			v.AppID, v.Tenant = app.ClientID, app.Tenant
		}
		vars[ct.Name] = v
	}
	var plans []plan
	index := map[*probe.Target]int{}
	for _, sp := range specs {
		if (protos != nil && !slices.Contains(protos, string(sp.Protocol))) ||
			(mechs != nil && !slices.Contains(mechs, string(sp.Mechanism))) {
			continue
		}
		i, ok := index[sp.Target]
		if !ok {
			i = len(plans)
			index[sp.Target] = i
			plans = append(plans, plan{target: sp.Target, vars: vars[sp.Target.Name]})
		}
		p := &plans[i]
		exp := report.ExpectOK
		if sp.Expect == scheduler.ExpectFail {
			exp = report.ExpectFail
		}
		timeout := sp.Timeout
		if f.set["timeout"] {
			timeout = f.timeout
		}
		p.checks = append(p.checks, probe.Check{Target: sp.Target, Protocol: sp.Protocol, Mechanism: sp.Mechanism})
		p.expect = append(p.expect, exp)
		p.timeout = append(p.timeout, timeout)
	}
	if len(plans) == 0 {
		if protos != nil || mechs != nil {
			return nil, usagef("no check of %s matches --protocols/--mechanisms", f.config)
		}
		return nil, usagef("%s has no checks", f.config)
	}
	return plans, nil
}

// runPlans runs every check of every plan at once (targets in parallel,
// each target's checks in parallel) and returns one report per target in
// plan order, attempts in check order.
func runPlans(ctx context.Context, plans []plan, timeout time.Duration, progress func(done, total int, line string)) []report.Result {
	results := make([]report.Result, len(plans))
	total := 0
	for _, p := range plans {
		total += len(p.checks)
	}
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	attempts := make([][]probe.Attempt, len(plans))
	for i, p := range plans {
		attempts[i] = make([]probe.Attempt, len(p.checks))
		for j, c := range p.checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := timeout
				if j < len(p.timeout) && p.timeout[j] > 0 {
					d = p.timeout[j]
				}
				actx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				a := probe.Run(actx, c)
				attempts[i][j] = a
				res := "ok"
				if !a.OK {
					res = "failed at " + string(a.Stage)
				}
				mu.Lock()
				done++
				progress(done, total, fmt.Sprintf("%s %s/%s: %s", p.target.Name, c.Protocol, c.Mechanism, res))
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for i, p := range plans {
		results[i] = report.New(p.target.Name, attempts[i], p.vars)
		results[i].Expect = p.expect
	}
	return results
}

// checkIsTerminal is isTerminal; tests replace it to see the progress.
var checkIsTerminal = isTerminal

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func firstNonEmptyStr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// orEmpty returns s when v is set, else "".
func orEmpty(s, v string) string {
	if v == "" {
		return ""
	}
	return s
}

// authReached reports whether an attempt got as far as sending its
// credentials (the auth stage or later).
func authReached(st probe.Stage) bool {
	switch st {
	case probe.StageAuth, probe.StageMailbox, probe.StageLogout, probe.StageDone:
		return true
	}
	return false
}

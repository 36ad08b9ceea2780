// Package config reads exoprobe's YAML configuration: defaults, targets
// (mailboxes) with their checks and expectations, shared OAuth apps,
// scheduler and store tuning, and the raw alerts section. Decoding is
// strict — an unknown key or a bad value is an error naming its line — and
// credentials are only ever references to a file or an environment
// variable, never inline values.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Exchange Online's endpoints, the default hosts.
const (
	DefaultIMAP = "outlook.office365.com:993"
	DefaultPOP  = "outlook.office365.com:995"
	DefaultSMTP = "smtp.office365.com:587"
)

// Defaults that apply when the file says nothing. The timeout is long
// because Exchange can take ~17 s to refuse a login: a shorter one turns
// refusals into timeouts.
const (
	DefaultInterval = 5 * time.Minute
	DefaultTimeout  = 30 * time.Second
	MinInterval     = time.Second
)

// The lockout guard's bounds (see GuardConfig). Entra smart lockout locks an
// account after 10 failed sign-ins; 3 per hour leaves room for the
// account's real clients' own mistakes.
const (
	MaxGuardLimit  = 3
	MinGuardWindow = time.Hour
)

// Config is a whole configuration file.
type Config struct {
	Defaults  Defaults            `yaml:"defaults"`
	Scheduler Scheduler           `yaml:"scheduler"`
	Store     Store               `yaml:"store"`
	OAuthApps map[string]OAuthApp `yaml:"oauth_apps"`
	// Tenants: optional, for tenant reads (see tenants.go).
	Tenants map[string]Tenant `yaml:"tenants"`
	Targets []Target          `yaml:"targets"`
	// Alerts is kept as raw YAML for package alerts, which decodes and
	// validates it with its own schema.
	Alerts yaml.Node `yaml:"alerts"`

	appLines    map[string]int
	tenantLines map[string]int
	// keyLines maps the dotted path of every key under defaults:,
	// scheduler: and store: ("scheduler.lockout_guard.limit") to its
	// line, so that errors about those values can point at them.
	keyLines map[string]int
}

// Defaults apply to every target and check unless overridden.
type Defaults struct {
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
	Hosts    Hosts    `yaml:"hosts"`
}

// Hosts are host:port addresses per protocol.
type Hosts struct {
	IMAP string `yaml:"imap"`
	POP  string `yaml:"pop"`
	SMTP string `yaml:"smtp"`
}

// Scheduler tunes package scheduler; zero means its defaults.
type Scheduler struct {
	MaxInFlight      int         `yaml:"max_in_flight"`
	MaxPerHost       int         `yaml:"max_per_host"`
	ConfirmDelay     Duration    `yaml:"confirm_delay"`
	NoConfirm        bool        `yaml:"no_confirm"`
	FailureThreshold int         `yaml:"failure_threshold"`
	SuccessThreshold int         `yaml:"success_threshold"`
	LockoutGuard     GuardConfig `yaml:"lockout_guard"`
}

// GuardConfig: at most Limit failed Basic logins per account per Window.
// Limit may not exceed MaxGuardLimit and Window may not be shorter than
// MinGuardWindow: together they are exoprobe's promise of never more than 3
// failed Basic logins per account per hour.
type GuardConfig struct {
	Limit  int      `yaml:"limit"`
	Window Duration `yaml:"window"`
}

// Store bounds what the store keeps; zero means its defaults.
type Store struct {
	HistoryMax    int      `yaml:"history_max"`
	HistoryMaxAge Duration `yaml:"history_max_age"`
	EventsMax     int      `yaml:"events_max"`
}

// OAuthApp is an app registration, shared by name between targets.
type OAuthApp struct {
	// Tenant and ClientID of an Entra app (client credentials through
	// MSAL); Authority overrides Entra's public cloud (e.g. the emulator).
	Tenant    string `yaml:"tenant"`
	ClientID  string `yaml:"client_id"`
	Authority string `yaml:"authority"`
	// TokenURL selects a generic OAuth 2.0 token endpoint instead of MSAL.
	TokenURL string `yaml:"token_url"`
	// ClientSecretFile or ClientSecretEnv: the app's secret, by reference.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// CertFile is a PEM file with the certificate and its private key.
	CertFile string   `yaml:"cert_file"`
	Scopes   []string `yaml:"scopes"`
	// RefreshTokenFile selects the delegated refresh-token flow (with
	// TokenURL); the file is rewritten when the token rotates.
	RefreshTokenFile string `yaml:"refresh_token_file"`
	// CAFile trusts the token endpoint's CA.
	CAFile string `yaml:"ca_file"`
}

// Target is one mailbox account to watch.
type Target struct {
	Name   string            `yaml:"name"`
	User   string            `yaml:"user"`
	Labels map[string]string `yaml:"labels"`
	Hosts  Hosts             `yaml:"hosts"`
	// IMAPStartTLS, POPStartTLS: plaintext port then STARTTLS/STLS.
	IMAPStartTLS bool `yaml:"imap_starttls"`
	POPStartTLS  bool `yaml:"pop_starttls"`
	// SMTPImplicitTLS: TLS from the first byte (port 465).
	SMTPImplicitTLS bool `yaml:"smtp_implicit_tls"`
	// SMTPSubmitCheck adds MAIL FROM/RCPT TO after AUTH.
	SMTPSubmitCheck bool   `yaml:"smtp_submit_check"`
	CAFile          string `yaml:"ca_file"`
	AllowPlaintext  bool   `yaml:"allow_plaintext"`
	// PasswordFile or PasswordEnv: the Basic password, by reference.
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// OAuth names an app in oauth_apps, or defines one inline.
	OAuth *OAuthRef `yaml:"oauth"`
	// Token is a ready-made access token (token_file / token_env) instead
	// of an app.
	TokenFile string `yaml:"token_file"`
	TokenEnv  string `yaml:"token_env"`
	// AuthPolicy names the Exchange authentication policy that applies to
	// the user (Get-User <user> | Select AuthenticationPolicy, else
	// Get-OrganizationConfig's DefaultAuthenticationPolicy): it fills the
	// <policy> of remedies, which stays a placeholder when this is empty.
	AuthPolicy string `yaml:"auth_policy"`
	// Tenant names the tenant (under tenants:) the target belongs to;
	// usually derived (Config.TenantOf).
	Tenant   string   `yaml:"tenant"`
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
	Checks   []Check  `yaml:"checks"`

	// Line of the target in the file, for messages.
	Line int `yaml:"-"`
	// keyLines: line of each of the target's keys, so that an error about
	// one value points at it rather than at the target.
	keyLines map[string]int
}

// at is the line of the target's key, else the target's own line.
func (t *Target) at(key string) int {
	if l, ok := t.keyLines[key]; ok {
		return l
	}
	return t.Line
}

// Check is one protocol × mechanism login of a target.
type Check struct {
	Protocol  string   `yaml:"protocol"`
	Mechanism string   `yaml:"mechanism"`
	Expect    string   `yaml:"expect"`
	Interval  Duration `yaml:"interval"`
	Timeout   Duration `yaml:"timeout"`
	Line      int      `yaml:"-"`
}

// OAuthRef is either the name of a shared app or an inline app.
type OAuthRef struct {
	Name string
	App  *OAuthApp
	Line int
}

// UnmarshalYAML accepts `oauth: name` and `oauth: {tenant: ..., ...}`.
func (r *OAuthRef) UnmarshalYAML(n *yaml.Node) error {
	r.Line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		r.Name = n.Value
		return nil
	case yaml.MappingNode:
		var app OAuthApp
		if err := strictNode(n, &app); err != nil {
			return err
		}
		r.App = &app
		return nil
	}
	return fmt.Errorf("line %d: oauth must be an app name or a mapping", n.Line)
}

// MarshalJSON shows the reference, never a secret.
func (r OAuthRef) MarshalJSON() ([]byte, error) {
	if r.App != nil {
		return json.Marshal(r.App)
	}
	return json.Marshal(r.Name)
}

// Password is the target's password reference.
func (t *Target) Password() Secret { return Secret{File: t.PasswordFile, Env: t.PasswordEnv} }

// ClientSecret is the app's secret reference.
func (a *OAuthApp) ClientSecret() Secret {
	return Secret{File: a.ClientSecretFile, Env: a.ClientSecretEnv}
}

// Token is the target's static access token reference.
func (t *Target) Token() Secret { return Secret{File: t.TokenFile, Env: t.TokenEnv} }

// Secret is a reference to a credential: a file or an environment
// variable. It never holds the value, so it cannot leak it: String and
// MarshalJSON show only where the value lives.
type Secret struct {
	File string
	Env  string
}

// IsSet reports whether a reference is configured.
func (s Secret) IsSet() bool { return s.File != "" || s.Env != "" }

// String shows the reference only.
func (s Secret) String() string {
	switch {
	case s.File != "":
		return "file:" + s.File
	case s.Env != "":
		return "env:" + s.Env
	}
	return "none"
}

// GoString keeps %#v as safe as %v.
func (s Secret) GoString() string { return "config.Secret(" + s.String() + ")" }

// MarshalJSON shows the reference only.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Value reads the secret now (a rotated password file is picked up at the
// next attempt). Trailing newlines of a file are dropped.
func (s Secret) Value() (string, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.File)
		}
		return v, nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	}
	return "", errors.New("no secret configured")
}

// Duration is a time.Duration written as "30s", "5m", "1h30m".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a string like 30s or 5m", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q (use e.g. 30s, 5m, 1h)", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %q", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error)    { return time.Duration(d).String(), nil }
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Load reads and validates a file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration.
func Parse(b []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration")
		}
		return nil, cleanYAMLError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; exoprobe reads one")
	}
	if err := rejectInlineSecrets(&root); err != nil {
		return nil, err
	}
	// The strict decode below parses the file into a node tree of its
	// own: take the lines from this tree and let it go first, so that
	// the two trees are never alive together (at 60,000 checks each is
	// about 100 MB, and holding both made the daemon's start-up its
	// peak of memory).
	lines := readLines(&root)
	root = yaml.Node{}
	dec = nil
	var c Config
	strict := yaml.NewDecoder(bytes.NewReader(b))
	strict.KnownFields(true)
	if err := strict.Decode(&c); err != nil {
		return nil, cleanYAMLError(err)
	}
	lines.apply(&c)
	if err := c.validate(); err != nil {
		return nil, err
	}
	// Only validation points at a target's keys; the daemon keeps the
	// configuration for reloads, and 10,000 targets' maps are 5 MB.
	for i := range c.Targets {
		c.Targets[i].keyLines = nil
	}
	return &c, nil
}

// cleanYAMLError drops the library's "yaml: " prefix; its messages already
// say "line N".
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// strictNode decodes a mapping into a flat struct refusing unknown keys:
// yaml.v3 forgets KnownFields inside custom unmarshalers.
func strictNode(n *yaml.Node, v any) error {
	known := map[string]bool{}
	rt := reflect.TypeOf(v).Elem()
	for i := range rt.NumField() {
		tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			known[tag] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return fmt.Errorf("line %d: field %s not found in type %s", k.Line, k.Value, rt)
		}
	}
	if err := n.Decode(v); err != nil {
		return cleanYAMLError(err)
	}
	return nil
}

var inlineSecretKeys = map[string]string{
	"password":      "password_file or password_env",
	"client_secret": "client_secret_file or client_secret_env",
	"token":         "token_file or token_env",
	"access_token":  "token_file or token_env",
	"refresh_token": "refresh_token_file",
	"secret":        "a _file or _env reference",
}

// rejectInlineSecrets walks the document for keys that would put a
// credential in the file itself, with a message that says what to use.
func rejectInlineSecrets(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if use, bad := inlineSecretKeys[k.Value]; bad {
				return fmt.Errorf("line %d: inline %s is not allowed: credentials never go in the config file; use %s", k.Line, k.Value, use)
			}
		}
	}
	for _, c := range n.Content {
		if n.Kind == yaml.MappingNode && c.Kind == yaml.ScalarNode {
			continue
		}
		if err := rejectInlineSecrets(c); err != nil {
			return err
		}
	}
	return nil
}

// docLines are the node positions Parse copies into a Config.
type docLines struct {
	app, tenant, keys map[string]int
	targets           []targetLines
}

type targetLines struct {
	line   int
	keys   map[string]int
	checks []int
}

// readLines takes the positions of targets, checks and keys from the tree.
func readLines(root *yaml.Node) docLines {
	var l docLines
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if an := mapValue(doc, "oauth_apps"); an != nil && an.Kind == yaml.MappingNode {
		l.app = map[string]int{}
		for i := 0; i+1 < len(an.Content); i += 2 {
			l.app[an.Content[i].Value] = an.Content[i].Line
		}
	}
	if tn := mapValue(doc, "tenants"); tn != nil && tn.Kind == yaml.MappingNode {
		l.tenant = map[string]int{}
		for i := 0; i+1 < len(tn.Content); i += 2 {
			l.tenant[tn.Content[i].Value] = tn.Content[i].Line
		}
	}
	l.keys = map[string]int{}
	for _, sec := range []string{"defaults", "scheduler", "store"} {
		if i := mapIndex(doc, sec); i >= 0 {
			l.keys[sec] = doc.Content[i].Line
			walkKeyLines(sec, doc.Content[i+1], l.keys)
		}
	}
	tn := mapValue(doc, "targets")
	if tn == nil || tn.Kind != yaml.SequenceNode {
		return l
	}
	l.targets = make([]targetLines, len(tn.Content))
	for i, t := range tn.Content {
		tl := &l.targets[i]
		tl.line = t.Line
		tl.keys = map[string]int{}
		walkKeyLines("", t, tl.keys)
		cn := mapValue(t, "checks")
		if cn == nil || cn.Kind != yaml.SequenceNode {
			continue
		}
		for _, ch := range cn.Content {
			tl.checks = append(tl.checks, ch.Line)
		}
	}
	return l
}

// apply copies the positions into targets and checks.
func (l *docLines) apply(c *Config) {
	c.appLines, c.tenantLines, c.keyLines = l.app, l.tenant, l.keys
	for i, tl := range l.targets {
		if i >= len(c.Targets) {
			break
		}
		c.Targets[i].Line = tl.line
		c.Targets[i].keyLines = tl.keys
		for j, line := range tl.checks {
			if j < len(c.Targets[i].Checks) {
				c.Targets[i].Checks[j].Line = line
			}
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if i := mapIndex(n, key); i >= 0 {
		return n.Content[i+1]
	}
	return nil
}

// mapIndex is the index of key's node in a mapping's Content, -1 if absent.
func mapIndex(n *yaml.Node, key string) int {
	if n == nil || n.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// walkKeyLines records the line of every key below n as prefix.key.
func walkKeyLines(prefix string, n *yaml.Node, lines map[string]int) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		path := n.Content[i].Value
		if prefix != "" {
			path = prefix + "." + path
		}
		lines[path] = n.Content[i].Line
		walkKeyLines(path, n.Content[i+1], lines)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// errs collects validation errors so that one run shows them all.
type errs []string

func (e *errs) add(line int, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if line > 0 {
		msg = "line " + strconv.Itoa(line) + ": " + msg
	}
	*e = append(*e, msg)
}

func (e errs) err() error {
	if len(e) == 0 {
		return nil
	}
	return errors.New(strings.Join(e, "\n"))
}

func validHostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

func (c *Config) validate() error {
	var e errs
	for _, h := range []struct{ name, addr string }{
		{"imap", c.Defaults.Hosts.IMAP}, {"pop", c.Defaults.Hosts.POP}, {"smtp", c.Defaults.Hosts.SMTP}} {
		if h.addr != "" && !validHostPort(h.addr) {
			e.add(c.keyLines["defaults.hosts."+h.name], "defaults.hosts.%s: %q is not host:port", h.name, h.addr)
		}
	}
	if c.Defaults.Interval != 0 && c.Defaults.Interval.D() < MinInterval {
		e.add(c.keyLines["defaults.interval"], "defaults.interval must be at least %v", MinInterval)
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"scheduler.max_in_flight", c.Scheduler.MaxInFlight},
		{"scheduler.max_per_host", c.Scheduler.MaxPerHost},
		{"scheduler.failure_threshold", c.Scheduler.FailureThreshold},
		{"scheduler.success_threshold", c.Scheduler.SuccessThreshold},
		{"scheduler.lockout_guard.limit", c.Scheduler.LockoutGuard.Limit},
		{"store.history_max", c.Store.HistoryMax},
		{"store.events_max", c.Store.EventsMax},
	} {
		if f.v < 0 {
			e.add(c.keyLines[f.key], "%s must not be negative (0 means the default)", f.key)
		}
	}
	if g := c.Scheduler.LockoutGuard; g.Limit > MaxGuardLimit {
		e.add(c.keyLines["scheduler.lockout_guard.limit"],
			"scheduler.lockout_guard.limit %d is above the maximum %d: exoprobe never makes more than %d failed Basic logins per account per hour (Entra smart lockout locks at 10)",
			g.Limit, MaxGuardLimit, MaxGuardLimit)
	}
	if g := c.Scheduler.LockoutGuard; g.Window != 0 && g.Window.D() < MinGuardWindow {
		e.add(c.keyLines["scheduler.lockout_guard.window"],
			"scheduler.lockout_guard.window %v is below the minimum %v: exoprobe never makes more than %d failed Basic logins per account per hour",
			g.Window.D(), MinGuardWindow, MaxGuardLimit)
	}
	for name, app := range c.OAuthApps {
		validateApp(&e, c.appLines[name], "oauth_apps."+name, &app)
	}
	c.validateTenants(&e)
	if len(c.Targets) == 0 {
		e.add(0, "no targets: add at least one under targets:")
	}
	seen := map[string]int{}
	for i := range c.Targets {
		t := &c.Targets[i]
		where := fmt.Sprintf("target %q", t.Name)
		if t.Name == "" {
			where = fmt.Sprintf("targets[%d]", i)
			e.add(t.Line, "%s: name is required", where)
		} else if !nameRE.MatchString(t.Name) {
			e.add(t.Line, "%s: name may contain only letters, digits and . _ @ + -", where)
		} else if prev, dup := seen[t.Name]; dup {
			e.add(t.Line, "%s: duplicate target name (first at line %d)", where, prev)
		} else {
			seen[t.Name] = t.Line
		}
		if t.User == "" {
			e.add(t.Line, "%s: user is required", where)
		}
		for k := range t.Labels {
			if !labelRE.MatchString(k) {
				e.add(t.at("labels."+k), "%s: label name %q must match %s", where, k, labelRE)
			}
		}
		for _, h := range []struct{ name, addr string }{{"imap", t.Hosts.IMAP}, {"pop", t.Hosts.POP}, {"smtp", t.Hosts.SMTP}} {
			if h.addr != "" && !validHostPort(h.addr) {
				e.add(t.at("hosts."+h.name), "%s: hosts.%s: %q is not host:port", where, h.name, h.addr)
			}
		}
		if t.PasswordFile != "" && t.PasswordEnv != "" {
			e.add(max(t.at("password_file"), t.at("password_env")), "%s: only one of password_file, password_env", where)
		}
		if t.TokenFile != "" && t.TokenEnv != "" {
			e.add(max(t.at("token_file"), t.at("token_env")), "%s: only one of token_file, token_env", where)
		}
		if t.OAuth != nil && (t.TokenFile != "" || t.TokenEnv != "") {
			e.add(t.at("oauth"), "%s: oauth and token_file/token_env are alternatives; pick one", where)
		}
		if t.OAuth != nil {
			if t.OAuth.App != nil {
				validateApp(&e, t.at("oauth"), where+": oauth", t.OAuth.App)
			} else if _, ok := c.OAuthApps[t.OAuth.Name]; !ok {
				e.add(t.OAuth.Line, "%s: unknown oauth app %q (define it under oauth_apps:)", where, t.OAuth.Name)
			}
		}
		if len(t.Checks) == 0 {
			e.add(t.Line, "%s: no checks", where)
		}
		checks := map[string]int{}
		for _, ch := range t.Checks {
			cw := fmt.Sprintf("%s check %s/%s", where, ch.Protocol, ch.Mechanism)
			switch ch.Protocol {
			case "imap", "pop", "smtp":
			default:
				e.add(ch.Line, "%s: unknown protocol %q (imap, pop or smtp)", cw, ch.Protocol)
			}
			switch ch.Mechanism {
			case "basic":
				if !t.Password().IsSet() {
					e.add(ch.Line, "%s: a basic check needs password_file or password_env on the target", cw)
				}
			case "xoauth2":
				if t.OAuth == nil && t.TokenFile == "" && t.TokenEnv == "" {
					e.add(ch.Line, "%s: an xoauth2 check needs oauth (an app) or token_file/token_env on the target", cw)
				}
			default:
				e.add(ch.Line, "%s: unknown mechanism %q (basic or xoauth2)", cw, ch.Mechanism)
			}
			switch ch.Expect {
			case "", "ok", "fail":
			default:
				e.add(ch.Line, "%s: expect must be ok or fail, not %q", cw, ch.Expect)
			}
			k := ch.Protocol + "/" + ch.Mechanism
			if prev, dup := checks[k]; dup {
				e.add(ch.Line, "%s: duplicate check (first at line %d)", cw, prev)
			}
			checks[k] = ch.Line
			iv, to := c.EffectiveInterval(t, &ch), c.EffectiveTimeout(t, &ch)
			if iv < MinInterval {
				e.add(ch.Line, "%s: interval %v is below the minimum %v", cw, iv, MinInterval)
			}
			if to > iv {
				e.add(ch.Line, "%s: timeout %v is longer than the interval %v", cw, to, iv)
			}
		}
	}
	return e.err()
}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func validateApp(e *errs, line int, where string, a *OAuthApp) {
	if a.ClientID == "" {
		e.add(line, "%s: client_id is required", where)
	}
	if a.TokenURL == "" && a.Tenant == "" {
		e.add(line, "%s: tenant is required (or token_url for a non-Entra endpoint)", where)
	}
	if a.ClientSecretFile != "" && a.ClientSecretEnv != "" {
		e.add(line, "%s: only one of client_secret_file, client_secret_env", where)
	}
	n := 0
	for _, set := range []bool{a.ClientSecret().IsSet(), a.CertFile != "", a.RefreshTokenFile != ""} {
		if set {
			n++
		}
	}
	if n == 0 {
		e.add(line, "%s: needs a credential: client_secret_file, client_secret_env, cert_file or refresh_token_file", where)
	}
	if a.CertFile != "" && a.ClientSecret().IsSet() {
		e.add(line, "%s: client secret and cert_file are alternatives; pick one", where)
	}
	if a.RefreshTokenFile != "" && a.TokenURL == "" {
		e.add(line, "%s: refresh_token_file needs token_url", where)
	}
}

// EffectiveInterval is the check's, else the target's, else the defaults',
// else DefaultInterval.
func (c *Config) EffectiveInterval(t *Target, ch *Check) time.Duration {
	for _, d := range []Duration{ch.Interval, t.Interval, c.Defaults.Interval} {
		if d > 0 {
			return d.D()
		}
	}
	return DefaultInterval
}

// EffectiveTimeout is like EffectiveInterval for the timeout.
func (c *Config) EffectiveTimeout(t *Target, ch *Check) time.Duration {
	for _, d := range []Duration{ch.Timeout, t.Timeout, c.Defaults.Timeout} {
		if d > 0 {
			return d.D()
		}
	}
	return DefaultTimeout
}

// Addr is the target's host:port for a protocol with the defaults applied.
func (c *Config) Addr(t *Target, protocol string) string {
	pick := func(h Hosts) string {
		switch protocol {
		case "imap":
			return h.IMAP
		case "pop":
			return h.POP
		case "smtp":
			return h.SMTP
		}
		return ""
	}
	if a := pick(t.Hosts); a != "" {
		return a
	}
	if a := pick(c.Defaults.Hosts); a != "" {
		return a
	}
	return pick(Hosts{IMAP: DefaultIMAP, POP: DefaultPOP, SMTP: DefaultSMTP})
}

// App returns the OAuth app of a target (shared or inline), nil if none.
func (c *Config) App(t *Target) *OAuthApp {
	if t.OAuth == nil {
		return nil
	}
	if t.OAuth.App != nil {
		return t.OAuth.App
	}
	if a, ok := c.OAuthApps[t.OAuth.Name]; ok {
		return &a
	}
	return nil
}

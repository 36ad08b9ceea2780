package alerts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Config is the `alerts:` section of exoprobe's configuration. It is
// either a list of sinks (the short form) or a mapping:
//
//	alerts:
//	  status_url: https://exoprobe.example/      # linked from every alert
//	  group_wait: 30s                            # collect a new group this long
//	  group_interval: 5m                         # least time between updates of a group
//	  repeat_interval: 4h                        # remind while still firing
//	  sinks:
//	    - {name: ops, type: slack, url_file: /run/secrets/slack-url, lang: ja}
//	    - {name: hook, type: webhook, url: https://hooks.example/exoprobe, secret_file: /run/secrets/hmac}
//	    - {name: teams, type: teams, url_env: TEAMS_WEBHOOK_URL}
//	    - {name: pd, type: pagerduty, routing_key_file: /run/secrets/pd-key}
//	    - {name: am, type: alertmanager, url: http://alertmanager:9093, labels: {team: mail}}
//	    - {name: mail, type: email, smtp: smtp.example:587, username: alerts@example.com,
//	       password_file: /run/secrets/smtp, from: alerts@example.com, to: [ops@example.com]}
//	  routes:                                    # none: every sink gets everything
//	    - {matchers: ['team="mail"'], kinds: [regressed, recovered], sinks: [ops, pd]}
//	  silences:
//	    - {matchers: ['target="scanner"'], starts_at: 2026-12-01T00:00:00Z, ends_at: 2026-12-01T04:00:00Z}
//
// Credentials (URLs of Slack, Teams and webhooks carry one; routing keys,
// passwords, HMAC keys) are best given by reference: url_file/url_env,
// routing_key_file/_env, password_file/_env, secret_file/_env.
type Config struct {
	StatusURL      string          `yaml:"status_url"`
	GroupWait      Duration        `yaml:"group_wait"`
	GroupInterval  Duration        `yaml:"group_interval"`
	RepeatInterval Duration        `yaml:"repeat_interval"`
	Sinks          []SinkConfig    `yaml:"sinks"`
	Routes         []RouteConfig   `yaml:"routes"`
	Silences       []SilenceConfig `yaml:"silences"`
}

// SinkConfig is one receiver.
type SinkConfig struct {
	Name           string   `yaml:"name"`
	Type           string   `yaml:"type"`
	Lang           string   `yaml:"lang"`
	RepeatInterval Duration `yaml:"repeat_interval"`
	Timeout        Duration `yaml:"timeout"`
	// url: webhook, slack, teams, alertmanager; pagerduty (override).
	URL     string `yaml:"url"`
	URLFile string `yaml:"url_file"`
	URLEnv  string `yaml:"url_env"`
	// HMAC key of the webhook.
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// PagerDuty.
	RoutingKeyFile string `yaml:"routing_key_file"`
	RoutingKeyEnv  string `yaml:"routing_key_env"`
	// Alertmanager.
	Labels map[string]string `yaml:"labels"`
	// Email.
	SMTP           string   `yaml:"smtp"`
	ImplicitTLS    bool     `yaml:"implicit_tls"`
	CAFile         string   `yaml:"ca_file"`
	AllowPlaintext bool     `yaml:"allow_plaintext"`
	Username       string   `yaml:"username"`
	PasswordFile   string   `yaml:"password_file"`
	PasswordEnv    string   `yaml:"password_env"`
	From           string   `yaml:"from"`
	To             []string `yaml:"to"`
	// OAuth names an app under the top-level oauth_apps: the email sink
	// then authenticates with SASL XOAUTH2 as username, with the app's
	// client-credentials token (SMTP.SendAsApp), as Exchange Online wants.
	OAuth string `yaml:"oauth"`

	Line int `yaml:"-"`
}

// RouteConfig sends matching checks to sinks.
type RouteConfig struct {
	Matchers []string `yaml:"matchers"`
	Kinds    []string `yaml:"kinds"`
	Sinks    []string `yaml:"sinks"`
	Line     int      `yaml:"-"`
}

// SilenceConfig is a maintenance window.
type SilenceConfig struct {
	Matchers []string  `yaml:"matchers"`
	StartsAt time.Time `yaml:"starts_at"`
	EndsAt   time.Time `yaml:"ends_at"`
	Comment  string    `yaml:"comment"`
	Line     int       `yaml:"-"`
}

// Duration is written as "30s", "5m".
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return fmt.Errorf("line %d: invalid duration %q (use e.g. 30s, 5m, 4h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// ParseConfig decodes and validates the raw `alerts:` node that package
// config keeps (nil or empty: no alerts). Unknown keys and bad values are
// errors naming their line. Secrets are not read yet: Build does that.
func ParseConfig(n *yaml.Node) (*Config, error) {
	c := &Config{}
	if n == nil || n.Kind == 0 {
		return c, nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return c, nil
	}
	if n.Kind == yaml.SequenceNode {
		if err := strictDecode(n, &c.Sinks); err != nil {
			return nil, err
		}
	} else if err := strictDecode(n, c); err != nil {
		return nil, err
	}
	lines(n, c)
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// strictDecode refuses unknown keys anywhere below n (yaml.v3's
// KnownFields applies to Decoder, not to Node.Decode) and reports lines.
func strictDecode(n *yaml.Node, v any) error {
	if err := checkKnown(n, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("alerts: %s", strings.Join(te.Errors, "; "))
		}
		return fmt.Errorf("alerts: %w", err)
	}
	return nil
}

var timeType = reflect.TypeOf(time.Time{})

func checkKnown(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if err := checkKnown(c, t.Elem()); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Struct && t != timeType && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("alerts: line %d: unknown key %q", k.Line, k.Value)
			}
			if err := checkKnown(n.Content[i+1], ft); err != nil {
				return err
			}
		}
	}
	return nil
}

func lines(n *yaml.Node, c *Config) {
	seq := func(key string) *yaml.Node {
		if n.Kind == yaml.SequenceNode && key == "sinks" {
			return n
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	if s := seq("sinks"); s != nil {
		for i, e := range s.Content {
			if i < len(c.Sinks) {
				c.Sinks[i].Line = e.Line
			}
		}
	}
	if s := seq("routes"); s != nil {
		for i, e := range s.Content {
			if i < len(c.Routes) {
				c.Routes[i].Line = e.Line
			}
		}
	}
	if s := seq("silences"); s != nil {
		for i, e := range s.Content {
			if i < len(c.Silences) {
				c.Silences[i].Line = e.Line
			}
		}
	}
}

// SinkTypes are the known sink types.
var SinkTypes = []string{"webhook", "slack", "teams", "pagerduty", "alertmanager", "email", "memory"}

func (c *Config) validate() error {
	var errs []string
	add := func(line int, f string, a ...any) {
		msg := fmt.Sprintf(f, a...)
		if line > 0 {
			msg = "line " + strconv.Itoa(line) + ": " + msg
		}
		errs = append(errs, "alerts: "+msg)
	}
	if c.StatusURL != "" {
		if u, err := url.Parse(c.StatusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			add(0, "status_url must be an http(s) URL")
		}
	}
	names := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		where := fmt.Sprintf("sink %q", s.Name)
		if s.Name == "" {
			// The short form may omit names: the type names the sink.
			s.Name = s.Type
			if names[s.Name] {
				s.Name = fmt.Sprintf("%s-%d", s.Type, i+1)
			}
			where = fmt.Sprintf("sinks[%d]", i)
		}
		if !labelName.MatchString(strings.ReplaceAll(s.Name, "-", "_")) {
			add(s.Line, "%s: name may contain letters, digits, _ and -", where)
		}
		if names[s.Name] {
			add(s.Line, "%s: duplicate sink name", where)
		}
		names[s.Name] = true
		switch s.Lang {
		case "", "en", "ja":
		default:
			add(s.Line, "%s: lang must be en or ja", where)
		}
		nURL := count(s.URL != "", s.URLFile != "", s.URLEnv != "")
		if nURL > 1 {
			add(s.Line, "%s: only one of url, url_file, url_env", where)
		}
		if s.URL != "" {
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				// Never echo the URL: it may be the credential.
				add(s.Line, "%s: url must be an http(s) URL", where)
			}
		}
		switch s.Type {
		case "webhook", "slack", "teams", "alertmanager":
			if nURL == 0 {
				add(s.Line, "%s: a %s sink needs url, url_file or url_env", where, s.Type)
			}
		case "pagerduty":
			if count(s.RoutingKeyFile != "", s.RoutingKeyEnv != "") != 1 {
				add(s.Line, "%s: a pagerduty sink needs one of routing_key_file, routing_key_env", where)
			}
		case "email":
			if h, p, err := net.SplitHostPort(s.SMTP); err != nil || h == "" || p == "" {
				add(s.Line, "%s: smtp must be host:port", where)
			}
			if s.From == "" || len(s.To) == 0 {
				add(s.Line, "%s: an email sink needs from and to", where)
			}
			switch {
			case s.OAuth != "" && s.Username == "":
				add(s.Line, "%s: oauth needs username (the mailbox the app sends as)", where)
			case s.OAuth != "" && (s.PasswordFile != "" || s.PasswordEnv != ""):
				add(s.Line, "%s: oauth and password_file/password_env exclude each other (XOAUTH2 sends a token, not a password)", where)
			case s.OAuth == "" && s.Username != "" && count(s.PasswordFile != "", s.PasswordEnv != "") != 1:
				add(s.Line, "%s: username needs one of password_file, password_env (or oauth)", where)
			}
		case "memory":
		default:
			add(s.Line, "%s: unknown type %q (one of %s)", where, s.Type, strings.Join(SinkTypes, ", "))
		}
		if s.OAuth != "" && s.Type != "email" {
			add(s.Line, "%s: oauth is for email sinks only", where)
		}
		if (s.SecretFile != "" || s.SecretEnv != "") && s.Type != "webhook" {
			add(s.Line, "%s: secret_file/secret_env (HMAC) is for webhook sinks", where)
		}
		for k := range s.Labels {
			if !labelName.MatchString(k) {
				add(s.Line, "%s: label name %q is invalid", where, k)
			}
		}
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if len(r.Sinks) == 0 {
			add(r.Line, "route: sinks is required")
		}
		for _, n := range r.Sinks {
			if !names[n] {
				add(r.Line, "route: unknown sink %q", n)
			}
		}
		for _, m := range r.Matchers {
			if _, err := ParseMatcher(m); err != nil {
				add(r.Line, "route: %v", err)
			}
		}
		for _, k := range r.Kinds {
			switch scheduler.EventKind(k) {
			case scheduler.EventRegressed, scheduler.EventCauseChanged, scheduler.EventRecovered, scheduler.EventUnexpectedlyOK,
				scheduler.EventPostureUnverified, KindTenant:
			default:
				add(r.Line, "route: unknown kind %q (regressed, cause_changed, recovered, unexpectedly_ok, posture_unverified, tenant)", k)
			}
		}
	}
	for i := range c.Silences {
		s := &c.Silences[i]
		if _, err := c.silence(s); err != nil {
			add(s.Line, "%v", err)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func count(b ...bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

func (c *Config) silence(s *SilenceConfig) (Silence, error) {
	out := Silence{ID: fmt.Sprintf("config-%d", s.Line), StartsAt: s.StartsAt, EndsAt: s.EndsAt, Comment: s.Comment,
		Source: "config"}
	for _, m := range s.Matchers {
		mt, err := ParseMatcher(m)
		if err != nil {
			return out, err
		}
		out.Matchers = append(out.Matchers, mt)
	}
	return out, out.validate()
}

// readSecret resolves an inline value or a file or environment reference.
func readSecret(inline, file, env string) (Secret, error) {
	switch {
	case inline != "":
		return NewSecret(inline), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return Secret{}, fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Secret{}, fmt.Errorf("secret file %s is empty", file)
		}
		return NewSecret(v), nil
	case env != "":
		v := os.Getenv(env)
		if v == "" {
			return Secret{}, fmt.Errorf("environment variable %s is not set", env)
		}
		return NewSecret(v), nil
	}
	return Secret{}, nil
}

// Build reads the secrets and makes the sinks. Memory sinks are returned in
// mems by name, for the demo's status page.
func (c *Config) Build() (sinks []Sink, mems map[string]*Memory, err error) {
	return c.BuildWith(nil)
}

// TokenSources resolves an oauth_apps name to the app's token source, so
// an email sink with `oauth:` shares the probes' token cache.
type TokenSources func(app string) (probe.TokenSource, error)

// BuildWith is Build with a resolver for email sinks' `oauth:` apps.
func (c *Config) BuildWith(tokens TokenSources) (sinks []Sink, mems map[string]*Memory, err error) {
	mems = map[string]*Memory{}
	repeat := c.RepeatInterval
	if repeat == 0 {
		repeat = Duration(DefaultRepeatInterval)
	}
	for i := range c.Sinks {
		sc := &c.Sinks[i]
		s, err := sc.build(time.Duration(repeat), tokens)
		if err != nil {
			return nil, nil, fmt.Errorf("alerts: sink %q (line %d): %w", sc.Name, sc.Line, err)
		}
		if m, ok := s.Notifier.(*Memory); ok {
			mems[s.Name] = m
		}
		sinks = append(sinks, s)
	}
	return sinks, mems, nil
}

func (sc *SinkConfig) build(repeat time.Duration, tokens TokenSources) (Sink, error) {
	s := Sink{Name: sc.Name, Type: sc.Type, Lang: sc.Lang, RepeatInterval: time.Duration(sc.RepeatInterval),
		Timeout: time.Duration(sc.Timeout)}
	if s.RepeatInterval > 0 {
		repeat = s.RepeatInterval
	}
	u, err := readSecret(sc.URL, sc.URLFile, sc.URLEnv)
	if err != nil {
		return s, err
	}
	// A URL read from a file or the environment is checked here, at
	// start, like an inline one at parse: not at the first alert, when
	// it is too late to notice. Never echo it: it may be the credential.
	if u.IsSet() && (sc.URLFile != "" || sc.URLEnv != "") {
		pu, err := url.Parse(u.Value())
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" ||
			strings.IndexFunc(u.Value(), func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			from := "url_file " + sc.URLFile
			if sc.URLEnv != "" {
				from = "url_env " + sc.URLEnv
			}
			return s, fmt.Errorf("%s: the contents are not an http(s) URL", from)
		}
	}
	switch sc.Type {
	case "webhook":
		key, err := readSecret("", sc.SecretFile, sc.SecretEnv)
		if err != nil {
			return s, err
		}
		s.Notifier = &Webhook{Name: sc.Name, URL: u, HMACKey: key, Lang: sc.Lang}
	case "slack":
		s.Notifier = &Slack{Name: sc.Name, URL: u, Lang: sc.Lang}
	case "teams":
		s.Notifier = &Teams{Name: sc.Name, URL: u, Lang: sc.Lang}
	case "pagerduty":
		key, err := readSecret("", sc.RoutingKeyFile, sc.RoutingKeyEnv)
		if err != nil {
			return s, err
		}
		s.Notifier = &PagerDuty{Name: sc.Name, RoutingKey: key, URL: u, Lang: sc.Lang}
	case "alertmanager":
		s.Notifier = &Alertmanager{Name: sc.Name, URL: u, Labels: sc.Labels, Lang: sc.Lang, ResolveTimeout: 3 * repeat}
	case "email":
		pw, err := readSecret("", sc.PasswordFile, sc.PasswordEnv)
		if err != nil {
			return s, err
		}
		e := &Email{Name: sc.Name, Addr: sc.SMTP, ImplicitTLS: sc.ImplicitTLS, AllowPlaintext: sc.AllowPlaintext,
			Username: sc.Username, Password: pw, From: sc.From, To: sc.To, Lang: sc.Lang}
		if sc.OAuth != "" {
			if tokens == nil {
				return s, fmt.Errorf("oauth %q: no oauth_apps to take it from", sc.OAuth)
			}
			if e.Token, err = tokens(sc.OAuth); err != nil {
				return s, fmt.Errorf("oauth %q: %w", sc.OAuth, err)
			}
		}
		if sc.CAFile != "" {
			pem, err := os.ReadFile(sc.CAFile)
			if err != nil {
				return s, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return s, fmt.Errorf("ca_file %s: no certificate found", sc.CAFile)
			}
			e.TLSConfig = &tls.Config{RootCAs: pool}
		}
		s.Notifier = e
	case "memory":
		s.Notifier = NewMemory(sc.Name, sc.Lang)
	}
	return s, nil
}

// Options returns Manager options for this configuration (sinks from
// Build; the caller adds DB, Registerer, Logger and may override
// StatusURL).
func (c *Config) Options(sinks []Sink) (Options, error) {
	o := Options{Sinks: sinks, StatusURL: c.StatusURL, GroupWait: time.Duration(c.GroupWait),
		GroupInterval: time.Duration(c.GroupInterval), RepeatInterval: time.Duration(c.RepeatInterval)}
	for i := range c.Routes {
		rc := &c.Routes[i]
		r := Route{Sinks: rc.Sinks}
		for _, m := range rc.Matchers {
			mt, err := ParseMatcher(m)
			if err != nil {
				return o, err
			}
			r.Matchers = append(r.Matchers, mt)
		}
		for _, k := range rc.Kinds {
			r.Kinds = append(r.Kinds, scheduler.EventKind(k))
		}
		o.Routes = append(o.Routes, r)
	}
	for i := range c.Silences {
		s, err := c.silence(&c.Silences[i])
		if err != nil {
			return o, err
		}
		o.Silences = append(o.Silences, s)
	}
	return o, nil
}

// SinkFromURL makes a sink from a plain URL, for flags such as the demo's
// --webhook URL and --alertmanager URL. typ is webhook, slack, teams or
// alertmanager.
func SinkFromURL(typ, name, rawURL, lang string) (Sink, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Sink{}, fmt.Errorf("alerts: %s %s: not an http(s) URL", typ, name)
	}
	sc := SinkConfig{Name: name, Type: typ, URL: rawURL, Lang: lang}
	switch typ {
	case "webhook", "slack", "teams", "alertmanager":
	default:
		return Sink{}, fmt.Errorf("alerts: %s sinks cannot be made from a URL alone", typ)
	}
	return sc.build(DefaultRepeatInterval, nil)
}

package inspect

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
)

// BasicSMTPCutoff is snapshot.BasicSMTPCutoff (kept there so that alerts
// can name it without importing the readers).
var BasicSMTPCutoff = snapshot.BasicSMTPCutoff

// Audit is `exoprobe tenant audit --output json`, /api/v1/tenants and the
// status page's tenant section. The top-level keys are a stable
// interface; inside each, Microsoft's own field names.
type Audit struct {
	Tenant                 string                     `json:"tenant"`
	ReadAt                 time.Time                  `json:"read_at"`
	TransportConfig        *snapshot.TransportConfig  `json:"transport_config"`
	SecurityDefaults       *snapshot.SecurityDefaults `json:"security_defaults"`
	AuthenticationPolicies []AuditPolicy              `json:"authentication_policies"`
	Mailboxes              []AuditMailbox             `json:"mailboxes"`
	ConditionalAccess      []AuditCA                  `json:"conditional_access"`
	AppCredentials         []AuditCredential          `json:"app_credentials"`
	BasicAuthSignIns       []AuditSignIns             `json:"basic_auth_signins"`
	// Cutoff: what the end-of-December Basic SMTP change will break.
	Cutoff AuditCutoff `json:"cutoff"`
	// Problems: "could not read X because Y", one per part not read.
	Problems []string `json:"problems"`
}

// AuditPolicy is one authentication policy.
type AuditPolicy struct {
	Name               string `json:"Name"`
	AllowBasicAuthSmtp bool   `json:"AllowBasicAuthSmtp"`
	AllowBasicAuthImap bool   `json:"AllowBasicAuthImap"`
	AllowBasicAuthPop  bool   `json:"AllowBasicAuthPop"`
	IsDefault          bool   `json:"IsDefault"`
}

// AuditMailbox is one mailbox's effective settings.
type AuditMailbox struct {
	Address string `json:"address"`
	// SmtpClientAuthenticationDisabled is the mailbox's own value (null:
	// follows the organization); SMTPAuth is the effective one.
	SmtpClientAuthenticationDisabled *bool     `json:"SmtpClientAuthenticationDisabled"`
	SMTPAuth                         *SMTPAuth `json:"smtp_auth"`
	ImapEnabled                      *bool     `json:"ImapEnabled"`
	PopEnabled                       *bool     `json:"PopEnabled"`
	AuthenticationPolicy             *string   `json:"AuthenticationPolicy"`
	PolicySource                     string    `json:"policy_source,omitempty"`
	Covered                          bool      `json:"covered_by_checks"`
}

// SMTPAuth is the effective SMTP AUTH switch of a mailbox and its source.
type SMTPAuth struct {
	Enabled bool   `json:"enabled"`
	Source  string `json:"source"` // "mailbox" or "organization"
}

// AuditCA is a Conditional Access policy that blocks or requires MFA for
// legacy clients.
type AuditCA struct {
	ID              string   `json:"id"`
	DisplayName     string   `json:"displayName"`
	State           string   `json:"state"`
	ClientAppTypes  []string `json:"clientAppTypes"`
	BuiltInControls []string `json:"builtInControls"`
	IncludeUsers    []string `json:"includeUsers"`
	// Blocks: enabled, for legacy clients; any grant ends as a block.
	Blocks bool `json:"blocks_legacy"`
}

// AuditCredential is one secret or certificate of a watched app.
type AuditCredential struct {
	AppID       string    `json:"appId"`
	AppName     string    `json:"appDisplayName,omitempty"`
	Type        string    `json:"type"`
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName,omitempty"`
	EndDateTime time.Time `json:"endDateTime"`
	DaysLeft    int       `json:"days_left"`
	Source      string    `json:"source"`
	Expiring    bool      `json:"expiring"`
	Expired     bool      `json:"expired"`
}

// AuditSignIns groups Basic sign-ins by user, app, IP and protocol.
type AuditSignIns struct {
	UserPrincipalName string    `json:"userPrincipalName"`
	AppDisplayName    string    `json:"appDisplayName,omitempty"`
	IPAddress         string    `json:"ipAddress"`
	ClientAppUsed     string    `json:"clientAppUsed"`
	Protocol          string    `json:"protocol"`
	Successes         int       `json:"successes"`
	Failures          int       `json:"failures"`
	LastSeen          time.Time `json:"last_seen"`
	Covered           bool      `json:"covered_by_checks"`
}

// AuditCutoff is the December 2026 Basic SMTP AUTH change.
type AuditCutoff struct {
	Date     time.Time `json:"date"`
	DaysLeft int       `json:"days_left"`
	// BasicSMTPUsers logged in with Basic SMTP successfully in the window:
	// they break at the cut-off unless they move to OAuth.
	BasicSMTPUsers []string `json:"basic_smtp_users"`
}

// AuditOptions: what the audit compares against.
type AuditOptions struct {
	Now func() time.Time
	// Covered: mailboxes some check watches (lower case).
	Covered []string
	// ExpiryWarning: credentials ending sooner are "expiring".
	ExpiryWarning time.Duration
	// Local: credentials read from local files (certificates).
	Local []snapshot.Credential
}

// DaysLeft is days until t, a part day counting as one ("expires in 10
// days" for 9 days 23 hours); 0 or less once past.
func DaysLeft(now, t time.Time) int {
	return int(math.Ceil(t.Sub(now).Hours() / 24))
}

// BuildAudit turns a snapshot into the audit document.
func BuildAudit(s *snapshot.Snapshot, o AuditOptions) Audit {
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	if o.ExpiryWarning <= 0 {
		o.ExpiryWarning = 30 * 24 * time.Hour
	}
	covered := map[string]bool{}
	for _, m := range o.Covered {
		covered[strings.ToLower(m)] = true
	}
	a := Audit{Tenant: s.Tenant, ReadAt: s.ReadAt, TransportConfig: s.TransportConfig, SecurityDefaults: s.SecurityDefaults,
		AuthenticationPolicies: []AuditPolicy{}, Mailboxes: []AuditMailbox{}, ConditionalAccess: []AuditCA{},
		AppCredentials: []AuditCredential{}, BasicAuthSignIns: []AuditSignIns{}, Problems: []string{},
		Cutoff: AuditCutoff{Date: BasicSMTPCutoff, DaysLeft: DaysLeft(now, BasicSMTPCutoff), BasicSMTPUsers: []string{}}}
	def := ""
	if s.OrganizationConfig != nil && s.OrganizationConfig.DefaultAuthenticationPolicy != nil {
		def = *s.OrganizationConfig.DefaultAuthenticationPolicy
	}
	for _, p := range s.AuthenticationPolicies {
		a.AuthenticationPolicies = append(a.AuthenticationPolicies, AuditPolicy{Name: p.Name, AllowBasicAuthSmtp: p.AllowBasicAuthSmtp,
			AllowBasicAuthImap: p.AllowBasicAuthImap, AllowBasicAuthPop: p.AllowBasicAuthPop, IsDefault: def != "" && strings.EqualFold(p.Name, def)})
	}
	addrs := make([]string, 0, len(s.Mailboxes))
	for k, m := range s.Mailboxes {
		if m.Found {
			addrs = append(addrs, k)
		}
	}
	slices.Sort(addrs)
	for _, k := range addrs {
		m := s.Mailboxes[k]
		am := AuditMailbox{Address: m.Address, SmtpClientAuthenticationDisabled: m.SmtpClientAuthenticationDisabled,
			ImapEnabled: m.ImapEnabled, PopEnabled: m.PopEnabled, Covered: covered[k]}
		if d, src, ok := s.EffectiveSMTPAuthDisabled(k); ok {
			am.SMTPAuth = &SMTPAuth{Enabled: !d, Source: src}
		}
		if p, src, found, _ := s.EffectivePolicy(k); found {
			name := p.Name
			am.AuthenticationPolicy, am.PolicySource = &name, src
		}
		a.Mailboxes = append(a.Mailboxes, am)
	}
	for _, p := range s.ConditionalAccess {
		legacy := false
		for _, c := range p.ClientAppTypes {
			legacy = legacy || c == "all" || c == "other"
		}
		if !legacy || len(p.BuiltInControls) == 0 {
			continue // not about legacy clients
		}
		a.ConditionalAccess = append(a.ConditionalAccess, AuditCA{ID: p.ID, DisplayName: p.DisplayName, State: p.State,
			ClientAppTypes: orEmpty(p.ClientAppTypes), BuiltInControls: orEmpty(p.BuiltInControls), IncludeUsers: orEmpty(p.IncludeUsers),
			Blocks: p.AppliesToLegacy()})
	}
	appIDs := make([]string, 0, len(s.Apps))
	for k := range s.Apps {
		appIDs = append(appIDs, k)
	}
	slices.Sort(appIDs)
	addCred := func(appID, appName string, c snapshot.Credential) {
		d := DaysLeft(now, c.EndDateTime)
		a.AppCredentials = append(a.AppCredentials, AuditCredential{AppID: appID, AppName: appName, Type: c.Kind, KeyID: c.KeyID,
			DisplayName: c.DisplayName, EndDateTime: c.EndDateTime, DaysLeft: d, Source: c.Source,
			Expired: !c.EndDateTime.After(now), Expiring: c.EndDateTime.Sub(now) < o.ExpiryWarning})
	}
	for _, id := range appIDs {
		app := s.Apps[id]
		for _, c := range app.Credentials {
			addCred(app.AppID, app.DisplayName, c)
		}
	}
	for _, c := range o.Local {
		addCred("", "", c)
	}
	slices.SortStableFunc(a.AppCredentials, func(x, y AuditCredential) int { return x.EndDateTime.Compare(y.EndDateTime) })

	type key struct{ upn, app, ip, client string }
	groups := map[key]*AuditSignIns{}
	var order []key
	smtpUsers := map[string]bool{}
	for _, si := range s.SignIns {
		k := key{si.UserPrincipalName, si.AppDisplayName, si.IPAddress, si.ClientAppUsed}
		g := groups[k]
		if g == nil {
			g = &AuditSignIns{UserPrincipalName: si.UserPrincipalName, AppDisplayName: si.AppDisplayName, IPAddress: si.IPAddress,
				ClientAppUsed: si.ClientAppUsed, Protocol: si.Protocol(), Covered: covered[si.UserPrincipalName]}
			groups[k] = g
			order = append(order, k)
		}
		if si.ErrorCode == 0 {
			g.Successes++
			if si.Protocol() == "smtp" {
				smtpUsers[si.UserPrincipalName] = true
			}
		} else {
			g.Failures++
		}
		if si.CreatedDateTime.After(g.LastSeen) {
			g.LastSeen = si.CreatedDateTime
		}
	}
	for _, k := range order {
		a.BasicAuthSignIns = append(a.BasicAuthSignIns, *groups[k])
	}
	slices.SortStableFunc(a.BasicAuthSignIns, func(x, y AuditSignIns) int {
		if c := strings.Compare(x.UserPrincipalName, y.UserPrincipalName); c != 0 {
			return c
		}
		return y.LastSeen.Compare(x.LastSeen)
	})
	for u := range smtpUsers {
		a.Cutoff.BasicSMTPUsers = append(a.Cutoff.BasicSMTPUsers, u)
	}
	slices.Sort(a.Cutoff.BasicSMTPUsers)
	for _, p := range s.Problems {
		a.Problems = append(a.Problems, p.String())
	}
	return a
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ReadAnything reports whether any part of the snapshot was read.
func ReadAnything(s *snapshot.Snapshot) bool {
	return s.TransportConfig != nil || s.SecurityDefaults != nil || s.OrganizationConfig != nil || s.PoliciesRead ||
		s.ConditionalAccessRead || s.SignInsRead || s.ServicePrincipalsRead || len(s.Mailboxes) > 0 || len(s.Apps) > 0
}

package cmdlet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// appRoles are the Office 365 Exchange Online application permissions the
// emulator models: the three protocol roles and Exchange.ManageAsApp, the
// admin API's (tenant-api.md §8.6).
var appRoles = []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp", "Exchange.ManageAsApp"}

// graphRoles are the Microsoft Graph application permissions the tenant
// reads use (tenant-api.md §0, §1.5).
var graphRoles = []string{"Policy.Read.All", "Policy.Read.ConditionalAccess", "AuditLog.Read.All",
	"Directory.Read.All", "Application.Read.All", "Reports.Read.All", "User.Read.All"}

// directoryRoles are the Entra roles the emulator puts in wids.
var directoryRoles = []string{"Global Reader", "Security Reader", "Exchange Administrator", "Global Administrator"}

// clientApps are clientAppUsed values Add-SimSignIn accepts (tenant-api.md
// §5.4).
var clientApps = []string{"Authenticated SMTP", "IMAP4", "POP3", "Exchange ActiveSync", "Exchange Web Services",
	"Other clients", "Browser", "Mobile Apps and Desktop clients"}

var delegatedScopes = []string{"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "offline_access"}

// simCmdlets are the emulator's own knobs for state that no real cmdlet
// changes (an account locked by smart lockout, an expired client secret,
// the service's reply era). Their Set-Sim/Get-Sim verbs make clear they do
// not exist in Exchange Online.
func simCmdlets() []*spec {
	return []*spec{
		{name: "Set-SimUser", params: []param{
			named("Identity", kString).at(0).req(),
			named("Locked", kSwitchOrBool), named("Disabled", kSwitchOrBool),
			named("Password", kString).hidden(),
			named("MfaRequired", kSwitchOrBool), named("MfaRegistered", kSwitchOrBool),
			named("ConditionalAccessBlocked", kSwitchOrBool), named("Throttled", kSwitchOrBool),
		}, run: (*Interpreter).setSimUser, needsOne: true},
		{name: "Set-SimTenant", params: []param{
			named("Era", kString).oneOf(string(tenant.Era2023), string(tenant.Era2026)),
			named("PropagationDelay", kDuration),
			named("BasicAuthRetiredImapPop", kSwitchOrBool),
			named("BasicAuthRetiredSmtp", kSwitchOrBool),
			named("LockoutThreshold", kInt),
			named("RefreshTokenMaxInactive", kDuration),
			named("SignInLogDelay", kDuration),
			named("EntraLicense", kString).oneOf(tenant.LicenseFree, tenant.LicenseP1, tenant.LicenseP2),
			named("LicenseErrorText", kString).oneOf("doc", "new"),
			named("GraphThrottle", kInt), named("ExchangeThrottle", kInt),
			named("GraphUnavailable", kInt), named("ExchangeUnavailable", kInt),
			named("RetryAfter", kString),
			named("InvokeCommandEnabled", kSwitchOrBool),
			named("InvokeCommandPagingExpires", kSwitchOrBool),
			named("GraphBudgets", kSwitchOrBool),
			named("SignInLicenseFlaky", kSwitchOrBool),
		}, run: (*Interpreter).setSimTenant, needsOne: true},
		{name: "Add-SimSignIn", params: []param{
			named("User", kString).at(0).req(),
			named("ClientApp", kString).req().oneOf(clientApps...),
			named("IPAddress", kString),
			named("ErrorCode", kInt),
			named("AppId", kString),
			named("CreatedDateTime", kDate),
		}, run: (*Interpreter).addSimSignIn},
		{name: "Get-SimSignIn", params: []param{named("User", kString).at(0)}, run: (*Interpreter).getSimSignIn},
		{name: "Set-SimApp", params: []param{
			named("AppId", kString).at(0).req().alias("Identity"),
			named("SecretExpired", kSwitchOrBool),
			named("AddRole", kStrings).oneOf(appRoles...), named("RemoveRole", kStrings).oneOf(appRoles...),
			named("AddDelegatedScope", kStrings).oneOf(delegatedScopes...),
			named("RemoveDelegatedScope", kStrings).oneOf(delegatedScopes...),
			named("PublicClient", kSwitchOrBool),
			named("SecretEndDateTime", kDate), named("CertificateEndDateTime", kDate),
			named("AddGraphRole", kStrings).oneOf(graphRoles...), named("RemoveGraphRole", kStrings).oneOf(graphRoles...),
			named("AddDirectoryRole", kStrings).oneOf(directoryRoles...),
			named("RemoveDirectoryRole", kStrings).oneOf(directoryRoles...),
		}, run: (*Interpreter).setSimApp, needsOne: true},
		{name: "Set-SimRefreshToken", params: []param{
			named("Identity", kString).at(0), named("Expired", kSwitch).req(),
		}, run: (*Interpreter).setSimRefreshToken},
		{name: "Get-SimState", run: (*Interpreter).getSimState},
	}
}

func (in *Interpreter) setSimUser(a args) ([]any, error) {
	return nil, in.t.Update(func(s *tenant.State) error {
		u, err := findUser(s, a.str("Identity"))
		if err != nil {
			return err
		}
		if a.has("Locked") {
			if err := s.LockUser(u.UPN, a.boolean("Locked")); err != nil {
				return err
			}
		}
		if a.has("Throttled") {
			if err := s.SetThrottled(u.UPN, a.boolean("Throttled")); err != nil {
				return err
			}
		}
		if a.has("Password") {
			if a.str("Password") == "" {
				return fmt.Errorf("Cannot validate argument on parameter 'Password'. The argument is null or empty.")
			}
			u.Password = a.str("Password")
			u.FailedLogins = 0
		}
		for name, field := range map[string]*bool{
			"Disabled":                 &u.Disabled,
			"MfaRequired":              &u.MFARequired,
			"MfaRegistered":            &u.MFARegistered,
			"ConditionalAccessBlocked": &u.ConditionalAccessBlocked,
		} {
			if a.has(name) {
				*field = a.boolean(name)
			}
		}
		return nil
	})
}

func (in *Interpreter) setSimTenant(a args) ([]any, error) {
	return nil, in.t.Update(func(s *tenant.State) error {
		if a.has("Era") {
			if err := s.SetEra(tenant.Era(a.str("Era"))); err != nil {
				return err
			}
		}
		if a.has("PropagationDelay") {
			s.PropagationDelay = tenant.Duration(a["PropagationDelay"].d)
		}
		if a.has("BasicAuthRetiredImapPop") {
			s.BasicAuthRetiredImapPop = a.boolean("BasicAuthRetiredImapPop")
		}
		if a.has("BasicAuthRetiredSmtp") {
			s.BasicAuthRetiredSmtp = a.boolean("BasicAuthRetiredSmtp")
		}
		if a.has("LockoutThreshold") {
			if a["LockoutThreshold"].n < 1 {
				return fmt.Errorf("Cannot validate argument on parameter 'LockoutThreshold'. The argument must be 1 or more.")
			}
			s.LockoutThreshold = a["LockoutThreshold"].n
		}
		if a.has("RefreshTokenMaxInactive") {
			s.RefreshTokenMaxInactive = tenant.Duration(a["RefreshTokenMaxInactive"].d)
		}
		if a.has("SignInLogDelay") {
			if a["SignInLogDelay"].d < 0 {
				return fmt.Errorf("Cannot validate argument on parameter 'SignInLogDelay'. The argument must not be negative.")
			}
			d := tenant.Duration(a["SignInLogDelay"].d)
			s.SignInLogDelayOverride = &d
		}
		if a.has("EntraLicense") {
			s.EntraLicense = a.str("EntraLicense")
		}
		if a.has("LicenseErrorText") {
			s.LicenseErrorText = ""
			if a.str("LicenseErrorText") == "new" {
				s.LicenseErrorText = "new"
			}
		}
		for name, field := range map[string]*int{
			"GraphThrottle": &s.API.GraphThrottle, "ExchangeThrottle": &s.API.ExchangeThrottle,
			"GraphUnavailable": &s.API.GraphUnavailable, "ExchangeUnavailable": &s.API.ExchangeUnavailable,
		} {
			if a.has(name) {
				if a[name].n < 0 {
					return fmt.Errorf("Cannot validate argument on parameter '%s'. The argument must not be negative.", name)
				}
				*field = a[name].n
			}
		}
		if a.has("RetryAfter") {
			ra := a.str("RetryAfter")
			if _, err := strconv.ParseFloat(ra, 64); err != nil && ra != "none" {
				return fmt.Errorf("Cannot validate argument on parameter 'RetryAfter'. Give seconds (2, 2.128) or none.")
			}
			s.API.RetryAfter = ra
		}
		if a.has("InvokeCommandEnabled") {
			s.API.InvokeCommandDisabled = !a.boolean("InvokeCommandEnabled")
		}
		if a.has("SignInLicenseFlaky") {
			s.API.SignInLicenseFlaky = a.boolean("SignInLicenseFlaky")
		}
		if a.has("GraphBudgets") {
			s.API.GraphBudgets = a.boolean("GraphBudgets")
		}
		if a.has("InvokeCommandPagingExpires") {
			s.API.InvokeCommandPagingExpires = a.boolean("InvokeCommandPagingExpires")
		}
		return nil
	})
}

func findAppBy(s *tenant.State, id string) (*tenant.App, error) {
	if app := s.FindApp(id); app != nil {
		return app, nil
	}
	var found []*tenant.App
	for _, app := range s.Apps {
		if strings.EqualFold(app.DisplayName, id) || strings.EqualFold(app.EnterpriseObjectID, id) {
			found = append(found, app)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no app registration with AppId or display name '%s' in the emulated tenant", id)
	case 1:
		return found[0], nil
	}
	return nil, ambiguous(id)
}

func (in *Interpreter) setSimApp(a args) ([]any, error) {
	return nil, in.t.Update(func(s *tenant.State) error {
		app, err := findAppBy(s, a.str("AppId"))
		if err != nil {
			return err
		}
		now := in.t.Now()
		if a.has("SecretExpired") {
			if a.boolean("SecretExpired") {
				if err := s.ExpireSecrets(app.AppID, now); err != nil {
					return err
				}
			} else {
				for i := range app.Secrets {
					app.Secrets[i].Expires = now.AddDate(1, 0, 0)
				}
			}
		}
		for _, r := range a.strs("AddRole") {
			if !slices.Contains(app.Roles, r) {
				app.Roles = append(app.Roles, r)
			}
		}
		app.Roles = slices.DeleteFunc(app.Roles, func(r string) bool { return slices.Contains(a.strs("RemoveRole"), r) })
		for _, sc := range a.strs("AddDelegatedScope") {
			if !slices.Contains(app.DelegatedScopes, sc) {
				app.DelegatedScopes = append(app.DelegatedScopes, sc)
			}
		}
		app.DelegatedScopes = slices.DeleteFunc(app.DelegatedScopes, func(sc string) bool {
			return slices.Contains(a.strs("RemoveDelegatedScope"), sc)
		})
		if a.has("PublicClient") {
			app.PublicClient = a.boolean("PublicClient")
		}
		// What Graph shows as endDateTime (tenant-api.md §6.1); an end in
		// the past also makes the token endpoint refuse the secret
		// (AADSTS7000222) or the certificate.
		if a.has("SecretEndDateTime") {
			if len(app.Secrets) == 0 {
				return fmt.Errorf("app '%s' has no client secret", app.DisplayName)
			}
			for i := range app.Secrets {
				app.Secrets[i].Expires = a["SecretEndDateTime"].t.UTC()
			}
		}
		if a.has("CertificateEndDateTime") {
			if len(app.Certificates) == 0 {
				return fmt.Errorf("app '%s' has no certificate", app.DisplayName)
			}
			for i := range app.Certificates {
				app.Certificates[i].Expires = a["CertificateEndDateTime"].t.UTC()
			}
		}
		app.GraphRoles = addRemove(app.GraphRoles, a.strs("AddGraphRole"), a.strs("RemoveGraphRole"))
		app.DirectoryRoles = addRemove(app.DirectoryRoles, a.strs("AddDirectoryRole"), a.strs("RemoveDirectoryRole"))
		return nil
	})
}

func (in *Interpreter) setSimRefreshToken(a args) ([]any, error) {
	if !a.boolean("Expired") {
		return nil, fmt.Errorf("Set-SimRefreshToken only expires tokens: give -Expired (new tokens come from the token endpoint)")
	}
	return nil, in.t.Update(func(s *tenant.State) error {
		upn := ""
		if a.has("Identity") {
			u, err := findUser(s, a.str("Identity"))
			if err != nil {
				return err
			}
			upn = u.UPN
		}
		return s.ExpireRefreshTokens(upn)
	})
}

// getSimState summarises the tenant without any secret: what a tester
// needs to see which verdict a login will get.
func (in *Interpreter) getSimState(args) ([]any, error) {
	var out []any
	now := in.t.Now()
	in.t.View(func(s *tenant.State) {
		var pols []string
		for _, p := range s.Policies {
			pols = append(pols, fmt.Sprintf("%s(imap=%t pop=%t smtp=%t)", p.Name, p.AllowBasicAuthImap, p.AllowBasicAuthPop, p.AllowBasicAuthSmtp))
		}
		out = append(out, &object{props: []prop{
			{"Tenant", s.Name},
			{"TenantId", s.ID},
			{"Domains", slices.Clone(s.Domains)},
			{"Era", string(s.Era)},
			{"Now", now},
			{"PropagationDelay", time.Duration(s.PropagationDelay)},
			{"SecurityDefaults", s.SecurityDefaults},
			{"BasicAuthRetiredImapPop", s.BasicAuthRetiredImapPop},
			{"BasicAuthRetiredSmtp", s.BasicAuthRetiredSmtp},
			{"SmtpClientAuthenticationDisabled", s.Transport.SmtpClientAuthenticationDisabled},
			{"DefaultAuthenticationPolicy", s.DefaultAuthenticationPolicy},
			{"AuthenticationPolicies", pols},
			{"EntraLicense", s.License()},
			{"SignInLogDelay", s.SignInLogDelay()},
			{"SignInLogRows", len(s.SignIns)},
			{"InvokeCommandEnabled", !s.API.InvokeCommandDisabled},
		}})
		for _, u := range s.Users {
			eff := "(none: Basic allowed)"
			if ab, ok := s.EffectivePolicy(u, now); ok {
				eff = fmt.Sprintf("imap=%t pop=%t smtp=%t", ab.AllowBasicAuthImap, ab.AllowBasicAuthPop, ab.AllowBasicAuthSmtp)
			}
			out = append(out, &object{props: []prop{
				{"User", u.UPN},
				{"DisplayName", u.DisplayName},
				{"Locked", u.Locked},
				{"Disabled", u.Disabled},
				{"FailedLogins", u.FailedLogins},
				{"MfaRequired", u.MFARequired},
				{"MfaRegistered", u.MFARegistered},
				{"ConditionalAccessBlocked", u.ConditionalAccessBlocked},
				{"Throttled", u.Throttled},
				{"AuthenticationPolicy", u.AuthenticationPolicy},
				{"EffectiveBasicAuth", eff},
				{"ImapEnabled", u.CAS.ImapEnabled},
				{"PopEnabled", u.CAS.PopEnabled},
				{"SmtpClientAuthenticationDisabled", u.CAS.SmtpClientAuthenticationDisabled},
				{"STSRefreshTokensValidFrom", u.STSRefreshTokensValidFrom},
			}, table: []string{"User", "Locked", "Disabled", "MfaRequired", "ConditionalAccessBlocked", "EffectiveBasicAuth"}})
		}
		for _, app := range s.Apps {
			secrets := "none"
			if n := len(app.Secrets); n > 0 {
				valid := 0
				for _, sec := range app.Secrets {
					if sec.Expires.IsZero() || sec.Expires.After(now) {
						valid++
					}
				}
				secrets = fmt.Sprintf("%d of %d valid", valid, n)
			}
			sp := "not registered (New-ServicePrincipal)"
			for _, x := range s.ServicePrincipals {
				if strings.EqualFold(x.AppID, app.AppID) {
					sp = x.ObjectID
					if !strings.EqualFold(x.ObjectID, app.EnterpriseObjectID) {
						sp += " (not the enterprise application's object id " + app.EnterpriseObjectID + ")"
					}
				}
			}
			out = append(out, &object{props: []prop{
				{"App", app.DisplayName},
				{"AppId", app.AppID},
				{"EnterpriseObjectId", app.EnterpriseObjectID},
				{"Secrets", secrets},
				{"Certificates", len(app.Certificates)},
				{"Roles", slices.Clone(app.Roles)},
				{"GraphRoles", slices.Clone(app.GraphRoles)},
				{"DirectoryRoles", slices.Clone(app.DirectoryRoles)},
				{"SecretEndDateTime", secretEnd(app)},
				{"DelegatedScopes", slices.Clone(app.DelegatedScopes)},
				{"PublicClient", app.PublicClient},
				{"ServicePrincipal", sp},
			}})
		}
		for _, p := range s.MailboxPermissions {
			out = append(out, &object{props: []prop{
				{"Mailbox", p.Mailbox},
				{"Trustee", trusteeName(s, p.User)},
				{"AccessRights", slices.Clone(p.AccessRights)},
			}, table: []string{"Mailbox", "Trustee", "AccessRights"}})
		}
	})
	return out, nil
}

func addRemove(cur, add, remove []string) []string {
	for _, r := range add {
		if !slices.Contains(cur, r) {
			cur = append(cur, r)
		}
	}
	return slices.DeleteFunc(cur, func(r string) bool { return slices.Contains(remove, r) })
}

// addSimSignIn appends a synthetic sign-in row: a device or app that
// logged in without any check behind it (e.g. a printer on Basic SMTP).
func (in *Interpreter) addSimSignIn(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		upn := strings.TrimSpace(a.str("User"))
		if _, _, ok := strings.Cut(upn, "@"); !ok {
			return fmt.Errorf("Cannot validate argument on parameter 'User'. '%s' is not a user principal name.", upn)
		}
		at := in.t.Now()
		if a.has("CreatedDateTime") {
			at = a["CreatedDateTime"].t
		}
		r := s.AddSyntheticSignIn(tenant.SyntheticSignIn{
			UPN: upn, ClientAppUsed: a.str("ClientApp"), IPAddress: a.str("IPAddress"),
			ErrorCode: a["ErrorCode"].intOr(0), AppID: a.str("AppId"), At: at,
		})
		out = append(out, signInObject(r))
		return nil
	})
	return out, err
}

// getSimSignIn lists the sign-in log as the emulator holds it, visible to
// Graph or not yet.
func (in *Interpreter) getSimSignIn(a args) ([]any, error) {
	var out []any
	in.t.View(func(s *tenant.State) {
		for _, r := range s.SignIns {
			if a.has("User") && !strings.EqualFold(r.UserPrincipalName, a.str("User")) {
				continue
			}
			out = append(out, signInObject(r))
		}
	})
	return out, nil
}

func signInObject(r *tenant.SignIn) *object {
	return &object{props: []prop{
		{"CreatedDateTime", r.CreatedDateTime},
		{"UserPrincipalName", r.UserPrincipalName},
		{"AppId", r.AppID},
		{"ClientAppUsed", r.ClientAppUsed},
		{"IPAddress", r.IPAddress},
		{"ErrorCode", r.ErrorCode},
		{"SignInEventType", r.EventType},
		{"Id", r.ID},
	}, table: []string{"CreatedDateTime", "UserPrincipalName", "ClientAppUsed", "IPAddress", "ErrorCode"}}
}

// secretEnd is the earliest end date of an app's client secrets (zero for
// none): what an expiry warning keys on.
func secretEnd(app *tenant.App) time.Time {
	var end time.Time
	for _, sec := range app.Secrets {
		if !sec.Expires.IsZero() && (end.IsZero() || sec.Expires.Before(end)) {
			end = sec.Expires
		}
	}
	return end
}

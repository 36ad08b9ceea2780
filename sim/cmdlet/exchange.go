package cmdlet

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/sim/tenant"
)

// cmdlets is every command the interpreter runs, Exchange Online, Microsoft
// Graph and emulator-only alike.
var cmdlets []*spec

func init() {
	cmdlets = append(cmdlets, exchangeCmdlets()...)
	cmdlets = append(cmdlets, simCmdlets()...)
}

// confirm adds the -Confirm common parameter that Exchange's changing
// cmdlets take (-Confirm:$false in scripts). The emulator never prompts.
func confirm(ps ...param) []param { return append(ps, named("Confirm", kSwitch)) }

// dcName is the server Exchange Online names in "couldn't be found" errors;
// the real one varies per tenant (inferred).
const dcName = "CO1PR01A001DC01.NAMPR01A001.PROD.OUTLOOK.COM"

// NotFoundError is Exchange's "couldn't be found" (a
// ManagementObjectNotFoundException in Exchange's terms).
type NotFoundError struct{ msg string }

func (e *NotFoundError) Error() string { return e.msg }

func notFound(id string) error {
	return &NotFoundError{fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on '%s'.", id, dcName)}
}

func ambiguous(id string) error {
	return fmt.Errorf("The operation couldn't be performed because '%s' matches multiple entries.", id)
}

func noChange(id string) text {
	return text(fmt.Sprintf("WARNING: The command completed successfully but no settings of '%s' have been modified.", id))
}

func alias(u *tenant.User) string {
	local, _, _ := strings.Cut(u.UPN, "@")
	return local
}

// findUser resolves an Exchange identity the way Exchange does: object id,
// UPN / primary address, alias or display name.
func findUser(s *tenant.State, id string) (*tenant.User, error) {
	id = strings.TrimSpace(id)
	for _, u := range s.Users {
		if strings.EqualFold(u.UPN, id) || strings.EqualFold(u.ObjectID, id) {
			return u, nil
		}
	}
	if u := s.FindMailbox(id); u != nil {
		return u, nil
	}
	var found []*tenant.User
	for _, u := range s.Users {
		if strings.EqualFold(alias(u), id) || strings.EqualFold(u.DisplayName, id) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return nil, notFound(id)
	case 1:
		return found[0], nil
	}
	return nil, ambiguous(id)
}

func findPolicy(s *tenant.State, id string) (*tenant.AuthenticationPolicy, error) {
	if p := s.FindPolicy(strings.TrimSpace(id)); p != nil {
		return p, nil
	}
	return nil, notFound(id)
}

// findSP resolves a service principal by object id, app id or display name.
func findSP(s *tenant.State, id string) ([]*tenant.ServicePrincipal, error) {
	var found []*tenant.ServicePrincipal
	for _, sp := range s.ServicePrincipals {
		if strings.EqualFold(sp.ObjectID, id) || strings.EqualFold(sp.AppID, id) ||
			(sp.DisplayName != "" && strings.EqualFold(sp.DisplayName, id)) {
			found = append(found, sp)
		}
	}
	return found, nil
}

func exchangeCmdlets() []*spec {
	return []*spec{
		{name: "Get-TransportConfig", run: (*Interpreter).getTransportConfig},
		{name: "Set-TransportConfig", params: confirm(named("SmtpClientAuthenticationDisabled", kBool)),
			run: (*Interpreter).setTransportConfig},
		{name: "Get-CASMailbox", params: []param{
			named("Identity", kString).at(0), named("ResultSize", kString),
		}, run: (*Interpreter).getCASMailbox},
		{name: "Get-EXOCasMailbox", params: []param{
			named("Identity", kString).at(0), named("Properties", kStrings),
			named("PropertySets", kStrings).oneOf("All", "Minimum", "ActiveSync", "Ews", "Imap", "Mapi", "Pop", "ProtocolSettings"),
			named("ResultSize", kString),
		}, run: (*Interpreter).getEXOCasMailbox},
		{name: "Set-CASMailbox", params: confirm(
			named("Identity", kString).at(0).req(),
			named("SmtpClientAuthenticationDisabled", kNullableBool),
			named("ImapEnabled", kBool), named("PopEnabled", kBool),
		), run: (*Interpreter).setCASMailbox},
		{name: "New-AuthenticationPolicy", params: confirm(
			named("Name", kString).at(0).req(),
			named("AllowBasicAuthImap", kSwitch), named("AllowBasicAuthPop", kSwitch), named("AllowBasicAuthSmtp", kSwitch),
		), run: (*Interpreter).newAuthPolicy},
		{name: "Get-AuthenticationPolicy", params: []param{named("Identity", kString).at(0)},
			run: (*Interpreter).getAuthPolicy},
		{name: "Set-AuthenticationPolicy", params: confirm(
			named("Identity", kString).at(0).req(),
			named("AllowBasicAuthImap", kSwitch), named("AllowBasicAuthPop", kSwitch), named("AllowBasicAuthSmtp", kSwitch),
		), run: (*Interpreter).setAuthPolicy},
		{name: "Remove-AuthenticationPolicy", params: confirm(named("Identity", kString).at(0).req()),
			run: (*Interpreter).removeAuthPolicy},
		{name: "Get-User", params: []param{named("Identity", kString).at(0), named("ResultSize", kString)},
			run: (*Interpreter).getUser},
		{name: "Set-User", params: confirm(
			named("Identity", kString).at(0).req(),
			named("AuthenticationPolicy", kStringOrNull),
			named("STSRefreshTokensValidFrom", kDate),
		), run: (*Interpreter).setUser},
		{name: "Get-OrganizationConfig", run: (*Interpreter).getOrgConfig},
		{name: "Set-OrganizationConfig", params: confirm(named("DefaultAuthenticationPolicy", kStringOrNull)),
			run: (*Interpreter).setOrgConfig},
		{name: "New-ServicePrincipal", params: confirm(
			named("AppId", kString).req(), named("ObjectId", kString).req().alias("ServiceId"),
			named("DisplayName", kString),
		), run: (*Interpreter).newSP},
		{name: "Get-ServicePrincipal", params: []param{named("Identity", kString).at(0)},
			run: (*Interpreter).getSP},
		{name: "Remove-ServicePrincipal", params: confirm(named("Identity", kString).at(0).req()),
			run: (*Interpreter).removeSP},
		{name: "Add-MailboxPermission", params: confirm(
			named("Identity", kString).at(0).req(),
			named("User", kString).req(),
			named("AccessRights", kStrings).req().oneOf(mailboxRights...),
			named("InheritanceType", kString).oneOf(inheritanceTypes...),
			named("AutoMapping", kBool),
		), run: (*Interpreter).addMailboxPermission},
		{name: "Get-MailboxPermission", params: []param{
			named("Identity", kString).at(0).req(), named("User", kString),
		}, run: (*Interpreter).getMailboxPermission},
		{name: "Remove-MailboxPermission", params: confirm(
			named("Identity", kString).at(0).req(),
			named("User", kString).req(),
			named("AccessRights", kStrings).req().oneOf(mailboxRights...),
			named("InheritanceType", kString).oneOf(inheritanceTypes...),
		), run: (*Interpreter).removeMailboxPermission},
		{name: "Get-MgPolicyIdentitySecurityDefaultEnforcementPolicy", run: (*Interpreter).getSecurityDefaults},
		{name: "Get-MgIdentityConditionalAccessPolicy", params: []param{named("ConditionalAccessPolicyId", kString).at(0)},
			run: (*Interpreter).getConditionalAccess},
		{name: "Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy", params: confirm(
			named("IsEnabled", kSwitchOrBool),
		), run: (*Interpreter).updateSecurityDefaults},
		// Session cmdlets that remedies print before the real work; the
		// emulator is always connected.
		{name: "Connect-ExchangeOnline", params: []param{
			named("UserPrincipalName", kString), named("ShowBanner", kSwitch), named("Organization", kString),
			named("AppId", kString), named("CertificateThumbprint", kString), named("Device", kSwitch),
		}, run: noop},
		{name: "Disconnect-ExchangeOnline", params: confirm(), run: noop},
		{name: "Connect-MgGraph", params: []param{
			named("Scopes", kStrings), named("TenantId", kString), named("NoWelcome", kSwitch),
		}, run: noop},
		{name: "Disconnect-MgGraph", run: noop},
	}
}

var mailboxRights = []string{"ChangeOwner", "ChangePermission", "DeleteItem", "ExternalAccount", "FullAccess", "ReadPermission"}

var inheritanceTypes = []string{"None", "All", "Descendents", "SelfAndChildren", "Children"}

func noop(*Interpreter, args) ([]any, error) { return nil, nil }

func (in *Interpreter) getTransportConfig(args) ([]any, error) {
	var o *object
	in.t.View(func(s *tenant.State) {
		o = &object{props: []prop{
			{"Identity", "Transport Settings"},
			{"SmtpClientAuthenticationDisabled", s.Transport.SmtpClientAuthenticationDisabled},
		}}
	})
	return []any{o}, nil
}

func (in *Interpreter) setTransportConfig(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		if !a.has("SmtpClientAuthenticationDisabled") || s.Transport.SmtpClientAuthenticationDisabled == a.boolean("SmtpClientAuthenticationDisabled") {
			out = append(out, noChange("Transport Settings"))
			return nil
		}
		s.Transport.SmtpClientAuthenticationDisabled = a.boolean("SmtpClientAuthenticationDisabled")
		return nil
	})
	return out, err
}

// casObject is a Get-CASMailbox result. Exchange's default table shows
// more protocols (ActiveSync, OWA, MAPI) that the emulator does not model.
func casObject(u *tenant.User) *object {
	return &object{props: []prop{
		{"Name", alias(u)},
		{"Identity", alias(u)},
		{"DisplayName", u.DisplayName},
		{"PrimarySmtpAddress", u.UPN},
		{"ExternalDirectoryObjectId", u.ObjectID},
		{"PopEnabled", u.CAS.PopEnabled},
		{"ImapEnabled", u.CAS.ImapEnabled},
		{"SmtpClientAuthenticationDisabled", u.CAS.SmtpClientAuthenticationDisabled},
	}, table: []string{"Name", "PopEnabled", "ImapEnabled", "SmtpClientAuthenticationDisabled"}}
}

// users returns the users an optional -Identity selects.
func (in *Interpreter) users(a args) ([]*tenant.User, error) {
	if rs := a.str("ResultSize"); rs != "" && !strings.EqualFold(rs, "Unlimited") && !isNumber(rs) {
		return nil, fmt.Errorf("Cannot process argument transformation on parameter 'ResultSize'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\".", rs)
	}
	var us []*tenant.User
	var err error
	in.t.View(func(s *tenant.State) {
		if !a.has("Identity") {
			for _, u := range s.Users {
				c := *u
				us = append(us, &c)
			}
			return
		}
		var u *tenant.User
		if u, err = findUser(s, a.str("Identity")); err == nil {
			c := *u
			us = []*tenant.User{&c}
		}
	})
	return us, err
}

func (in *Interpreter) getCASMailbox(a args) ([]any, error) {
	us, err := in.users(a)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, u := range us {
		out = append(out, casObject(u))
	}
	return out, nil
}

// exoMinimal is Get-EXOCasMailbox's minimal property set as far as the
// emulator models it: the EXO V3 cmdlets return other properties only when
// asked with -Properties or -PropertySets, which is why the support article
// passes -Properties SmtpClientAuthenticationDisabled.
var exoMinimal = []string{"Name", "Identity", "DisplayName", "PrimarySmtpAddress", "ExternalDirectoryObjectId", "PopEnabled", "ImapEnabled"}

func (in *Interpreter) getEXOCasMailbox(a args) ([]any, error) {
	us, err := in.users(a)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range exoMinimal {
		want[n] = true
	}
	full := casObject(&tenant.User{})
	for _, p := range a.strs("Properties") {
		fp, ok := full.get(p)
		if !ok {
			return nil, fmt.Errorf("Cannot bind parameter 'Properties': '%s' is not a property of Get-EXOCasMailbox output the emulator knows; known: %s", p, strings.Join(full.names(), ", "))
		}
		want[fp.name] = true
	}
	for _, set := range a.strs("PropertySets") {
		if set == "All" || set == "ProtocolSettings" {
			for _, n := range full.names() {
				want[n] = true
			}
		}
	}
	var out []any
	for _, u := range us {
		o := casObject(u)
		o.table = nil // EXO V3 cmdlets print lists
		o.props = slices.DeleteFunc(o.props, func(p prop) bool { return !want[p.name] })
		if !want["SmtpClientAuthenticationDisabled"] {
			o.hint = "Get-EXOCasMailbox returns SmtpClientAuthenticationDisabled only with -Properties SmtpClientAuthenticationDisabled"
		}
		out = append(out, o)
	}
	return out, nil
}

func (in *Interpreter) setCASMailbox(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		u, err := findUser(s, a.str("Identity"))
		if err != nil {
			return err
		}
		changed := false
		if a.has("SmtpClientAuthenticationDisabled") {
			nv := a.nbool("SmtpClientAuthenticationDisabled")
			old := u.CAS.SmtpClientAuthenticationDisabled
			if (old == nil) != (nv == nil) || (old != nil && *old != *nv) {
				u.CAS.SmtpClientAuthenticationDisabled = nv
				changed = true
			}
		}
		if a.has("ImapEnabled") && u.CAS.ImapEnabled != a.boolean("ImapEnabled") {
			u.CAS.ImapEnabled = a.boolean("ImapEnabled")
			changed = true
		}
		if a.has("PopEnabled") && u.CAS.PopEnabled != a.boolean("PopEnabled") {
			u.CAS.PopEnabled = a.boolean("PopEnabled")
			changed = true
		}
		if !changed {
			out = append(out, noChange(alias(u)))
		}
		return nil
	})
	return out, err
}

func policyObject(p *tenant.AuthenticationPolicy) *object {
	o := &object{props: []prop{
		{"Name", p.Name},
		{"Identity", p.Name},
		{"AllowBasicAuthImap", p.AllowBasicAuthImap},
		{"AllowBasicAuthPop", p.AllowBasicAuthPop},
		{"AllowBasicAuthSmtp", p.AllowBasicAuthSmtp},
	}}
	var changed any
	if n := len(p.History); n > 0 {
		changed = p.History[n-1].ChangedAt
	}
	o.props = append(o.props, prop{"WhenChangedUTC", changed})
	return o
}

// switches applies Set-AuthenticationPolicy's switch semantics: present is
// $true, -X:$false is false, absent leaves the value alone.
func switches(a args, cur tenant.AllowBasic) tenant.AllowBasic {
	if a.has("AllowBasicAuthImap") {
		cur.AllowBasicAuthImap = a.boolean("AllowBasicAuthImap")
	}
	if a.has("AllowBasicAuthPop") {
		cur.AllowBasicAuthPop = a.boolean("AllowBasicAuthPop")
	}
	if a.has("AllowBasicAuthSmtp") {
		cur.AllowBasicAuthSmtp = a.boolean("AllowBasicAuthSmtp")
	}
	return cur
}

func (in *Interpreter) newAuthPolicy(a args) ([]any, error) {
	var o *object
	err := in.t.Update(func(s *tenant.State) error {
		name := strings.TrimSpace(a.str("Name"))
		if name == "" {
			return fmt.Errorf("Cannot validate argument on parameter 'Name'. The argument is null or empty.")
		}
		if s.FindPolicy(name) != nil {
			return fmt.Errorf("An authentication policy named '%s' already exists.", name)
		}
		// A new policy blocks Basic on every protocol it is not told to allow.
		s.SetPolicy(name, switches(a, tenant.AllowBasic{}), in.t.Now())
		o = policyObject(s.FindPolicy(name))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []any{o}, nil
}

func (in *Interpreter) getAuthPolicy(a args) ([]any, error) {
	var out []any
	var err error
	in.t.View(func(s *tenant.State) {
		if a.has("Identity") {
			var p *tenant.AuthenticationPolicy
			if p, err = findPolicy(s, a.str("Identity")); err == nil {
				out = append(out, policyObject(p))
			}
			return
		}
		for _, p := range s.Policies {
			out = append(out, policyObject(p))
		}
	})
	return out, err
}

func (in *Interpreter) setAuthPolicy(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		p, err := findPolicy(s, a.str("Identity"))
		if err != nil {
			return err
		}
		next := switches(a, p.AllowBasic)
		if next == p.AllowBasic {
			out = append(out, noChange(p.Name))
			return nil
		}
		// Through SetPolicy so the change waits for propagation.
		s.SetPolicy(p.Name, next, in.t.Now())
		return nil
	})
	return out, err
}

func (in *Interpreter) removeAuthPolicy(a args) ([]any, error) {
	return nil, in.t.Update(func(s *tenant.State) error {
		p, err := findPolicy(s, a.str("Identity"))
		if err != nil {
			return err
		}
		if strings.EqualFold(s.DefaultAuthenticationPolicy, p.Name) {
			return fmt.Errorf("The authentication policy '%s' is the organization's default (Set-OrganizationConfig -DefaultAuthenticationPolicy) and can't be removed.", p.Name)
		}
		for _, u := range s.Users {
			if strings.EqualFold(u.AuthenticationPolicy, p.Name) {
				return fmt.Errorf("The authentication policy '%s' is assigned to '%s' and can't be removed; assign another policy first (Set-User -AuthenticationPolicy).", p.Name, u.UPN)
			}
		}
		s.Policies = slices.DeleteFunc(s.Policies, func(x *tenant.AuthenticationPolicy) bool { return x == p })
		return nil
	})
}

func userObject(u *tenant.User) *object {
	return &object{props: []prop{
		{"Name", alias(u)},
		{"Identity", alias(u)},
		{"DisplayName", u.DisplayName},
		{"UserPrincipalName", u.UPN},
		{"RecipientType", "UserMailbox"},
		{"AccountDisabled", u.Disabled},
		{"ExternalDirectoryObjectId", u.ObjectID},
		{"AuthenticationPolicy", u.AuthenticationPolicy},
		{"STSRefreshTokensValidFrom", u.STSRefreshTokensValidFrom},
	}, table: []string{"Name", "RecipientType"}}
}

func (in *Interpreter) getUser(a args) ([]any, error) {
	us, err := in.users(a)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, u := range us {
		out = append(out, userObject(u))
	}
	return out, nil
}

func (in *Interpreter) setUser(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		u, err := findUser(s, a.str("Identity"))
		if err != nil {
			return err
		}
		now := in.t.Now()
		changed := false
		if a.has("AuthenticationPolicy") {
			name := ""
			if !a["AuthenticationPolicy"].null && a.str("AuthenticationPolicy") != "" {
				p, err := findPolicy(s, a.str("AuthenticationPolicy"))
				if err != nil {
					return err
				}
				name = p.Name
			}
			if !strings.EqualFold(name, u.AuthenticationPolicy) {
				if err := s.AssignPolicy(u.UPN, name, now); err != nil {
					return err
				}
				changed = true
			}
		}
		if a.has("STSRefreshTokensValidFrom") {
			if err := s.RevokeSessions(u.UPN, a["STSRefreshTokensValidFrom"].t.UTC()); err != nil {
				return err
			}
			changed = true
		}
		if !changed {
			out = append(out, noChange(alias(u)))
		}
		return nil
	})
	return out, err
}

func (in *Interpreter) getOrgConfig(args) ([]any, error) {
	var o *object
	in.t.View(func(s *tenant.State) {
		name := s.Name
		if len(s.Domains) > 0 {
			name = s.Domains[0]
		}
		o = &object{props: []prop{
			{"Name", name},
			{"Identity", name},
			{"DefaultAuthenticationPolicy", s.DefaultAuthenticationPolicy},
			// Modern authentication is on in every emulated tenant (XOAUTH2
			// works); tenant-api.md §8.8 lists it among the properties to
			// read (live record: true).
			{"OAuth2ClientProfileEnabled", true},
		}}
	})
	return []any{o}, nil
}

func (in *Interpreter) setOrgConfig(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		if !a.has("DefaultAuthenticationPolicy") {
			out = append(out, noChange(s.Name))
			return nil
		}
		name := ""
		if !a["DefaultAuthenticationPolicy"].null && a.str("DefaultAuthenticationPolicy") != "" {
			p, err := findPolicy(s, a.str("DefaultAuthenticationPolicy"))
			if err != nil {
				return err
			}
			name = p.Name
		}
		if strings.EqualFold(name, s.DefaultAuthenticationPolicy) {
			out = append(out, noChange(s.Name))
			return nil
		}
		return s.SetDefaultPolicy(name, in.t.Now())
	})
	return out, err
}

func spObject(sp *tenant.ServicePrincipal) *object {
	return &object{props: []prop{
		{"DisplayName", sp.DisplayName},
		{"ObjectId", sp.ObjectID},
		{"AppId", sp.AppID},
		{"Identity", sp.ObjectID},
	}, table: []string{"DisplayName", "ObjectId", "AppId"}}
}

func (in *Interpreter) newSP(a args) ([]any, error) {
	var o *object
	err := in.t.Update(func(s *tenant.State) error {
		appID, objID := strings.TrimSpace(a.str("AppId")), strings.TrimSpace(a.str("ObjectId"))
		for _, sp := range s.ServicePrincipals {
			if strings.EqualFold(sp.AppID, appID) {
				return fmt.Errorf("A service principal with AppId '%s' already exists (ObjectId '%s'); remove it with Remove-ServicePrincipal to register it again.", sp.AppID, sp.ObjectID)
			}
			if strings.EqualFold(sp.ObjectID, objID) {
				return fmt.Errorf("A service principal with ObjectId '%s' already exists (AppId '%s').", sp.ObjectID, sp.AppID)
			}
		}
		sp := &tenant.ServicePrincipal{AppID: appID, ObjectID: objID, DisplayName: a.str("DisplayName")}
		s.ServicePrincipals = append(s.ServicePrincipals, sp)
		o = spObject(sp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []any{o}, nil
}

func (in *Interpreter) getSP(a args) ([]any, error) {
	var out []any
	var err error
	in.t.View(func(s *tenant.State) {
		list := s.ServicePrincipals
		if a.has("Identity") {
			list, _ = findSP(s, a.str("Identity"))
			if len(list) == 0 {
				err = notFound(a.str("Identity"))
				return
			}
		}
		for _, sp := range list {
			c := *sp
			out = append(out, spObject(&c))
		}
	})
	return out, err
}

func (in *Interpreter) removeSP(a args) ([]any, error) {
	return nil, in.t.Update(func(s *tenant.State) error {
		found, _ := findSP(s, a.str("Identity"))
		switch len(found) {
		case 0:
			return notFound(a.str("Identity"))
		case 1:
		default:
			return ambiguous(a.str("Identity"))
		}
		s.ServicePrincipals = slices.DeleteFunc(s.ServicePrincipals, func(x *tenant.ServicePrincipal) bool { return x == found[0] })
		return nil
	})
}

// trustee resolves Add-MailboxPermission's -User: a service principal
// (object id, app id or display name) or a user. Grants to a service
// principal are stored under its ObjectId, to a user under the UPN.
func trustee(s *tenant.State, id string) (key, shown string, err error) {
	sps, _ := findSP(s, strings.TrimSpace(id))
	switch len(sps) {
	case 1:
		shown = sps[0].DisplayName
		if shown == "" {
			shown = sps[0].ObjectID
		}
		return sps[0].ObjectID, shown, nil
	case 0:
	default:
		return "", "", ambiguous(id)
	}
	u, err := findUser(s, id)
	if err != nil {
		return "", "", err
	}
	return u.UPN, u.UPN, nil
}

// trusteeName is how a stored grant's trustee prints.
func trusteeName(s *tenant.State, key string) string {
	for _, sp := range s.ServicePrincipals {
		if strings.EqualFold(sp.ObjectID, key) && sp.DisplayName != "" {
			return sp.DisplayName
		}
	}
	return key
}

func permObject(mbx, user string, rights []string) *object {
	return &object{props: []prop{
		{"Identity", mbx},
		{"User", user},
		{"AccessRights", rights},
		{"IsInherited", false},
		{"Deny", false},
		{"InheritanceType", "All"},
	}, table: []string{"Identity", "User", "AccessRights", "IsInherited", "Deny"}}
}

func (in *Interpreter) addMailboxPermission(a args) ([]any, error) {
	var o *object
	err := in.t.Update(func(s *tenant.State) error {
		u, err := findUser(s, a.str("Identity"))
		if err != nil {
			return err
		}
		key, shown, err := trustee(s, a.str("User"))
		if err != nil {
			return err
		}
		var perm *tenant.MailboxPermission
		for _, p := range s.MailboxPermissions {
			if strings.EqualFold(p.Mailbox, u.UPN) && strings.EqualFold(p.User, key) {
				perm = p
			}
		}
		if perm == nil {
			perm = &tenant.MailboxPermission{Mailbox: u.UPN, User: key}
			s.MailboxPermissions = append(s.MailboxPermissions, perm)
		}
		for _, r := range a.strs("AccessRights") {
			if !slices.Contains(perm.AccessRights, r) {
				perm.AccessRights = append(perm.AccessRights, r)
			}
		}
		o = permObject(alias(u), shown, slices.Clone(a.strs("AccessRights")))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []any{o}, nil
}

func (in *Interpreter) getMailboxPermission(a args) ([]any, error) {
	var out []any
	var err error
	in.t.View(func(s *tenant.State) {
		var u *tenant.User
		if u, err = findUser(s, a.str("Identity")); err != nil {
			return
		}
		filter := ""
		if a.has("User") {
			if filter, _, err = trustee(s, a.str("User")); err != nil {
				return
			}
		} else {
			// Every mailbox grants itself these rights; Exchange lists it first.
			out = append(out, permObject(alias(u), `NT AUTHORITY\SELF`, []string{"FullAccess", "ReadPermission"}))
		}
		for _, p := range s.MailboxPermissions {
			if !strings.EqualFold(p.Mailbox, u.UPN) || (filter != "" && !strings.EqualFold(p.User, filter)) {
				continue
			}
			out = append(out, permObject(alias(u), trusteeName(s, p.User), slices.Clone(p.AccessRights)))
		}
	})
	return out, err
}

func (in *Interpreter) removeMailboxPermission(a args) ([]any, error) {
	var out []any
	err := in.t.Update(func(s *tenant.State) error {
		u, err := findUser(s, a.str("Identity"))
		if err != nil {
			return err
		}
		key, _, err := trustee(s, a.str("User"))
		if err != nil {
			return err
		}
		removed := false
		for _, p := range s.MailboxPermissions {
			if !strings.EqualFold(p.Mailbox, u.UPN) || !strings.EqualFold(p.User, key) {
				continue
			}
			n := len(p.AccessRights)
			p.AccessRights = slices.DeleteFunc(p.AccessRights, func(r string) bool { return slices.Contains(a.strs("AccessRights"), r) })
			removed = removed || len(p.AccessRights) < n
		}
		s.MailboxPermissions = slices.DeleteFunc(s.MailboxPermissions, func(p *tenant.MailboxPermission) bool { return len(p.AccessRights) == 0 })
		if !removed {
			out = append(out, text(fmt.Sprintf("WARNING: Can't remove the access control entry on the object '%s' for account '%s' because the ACE doesn't exist on the object.", alias(u), a.str("User"))))
		}
		return nil
	})
	return out, err
}

func (in *Interpreter) getSecurityDefaults(args) ([]any, error) {
	var o *object
	in.t.View(func(s *tenant.State) {
		o = &object{props: []prop{
			{"Description", "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks."},
			{"DisplayName", "Security Defaults"},
			{"Id", "00000000-0000-0000-0000-000000000005"},
			{"IsEnabled", s.SecurityDefaults},
		}}
	})
	return []any{o}, nil
}

func (in *Interpreter) updateSecurityDefaults(a args) ([]any, error) {
	return nil, in.t.Update(func(s *tenant.State) error {
		if a.has("IsEnabled") {
			s.SecurityDefaults = a.boolean("IsEnabled")
		}
		return nil
	})
}

// caPolicyID names the one Conditional Access policy the emulator models:
// the per-user ConditionalAccessBlocked flag (Set-SimUser) stands for a
// policy blocking those users' non-interactive sign-ins. Graph serves the
// same policy (sim/graph).
const caPolicyID = tenant.CAPolicyID

func (in *Interpreter) getConditionalAccess(a args) ([]any, error) {
	if a.has("ConditionalAccessPolicyId") && !strings.EqualFold(a.str("ConditionalAccessPolicyId"), caPolicyID) {
		return nil, fmt.Errorf("Get-MgIdentityConditionalAccessPolicy_Get: Policy with Id '%s' not found. Status: 404 (NotFound)", a.str("ConditionalAccessPolicyId"))
	}
	var users []string
	in.t.View(func(s *tenant.State) {
		for _, u := range s.Users {
			if u.ConditionalAccessBlocked {
				users = append(users, u.UPN)
			}
		}
	})
	state := "disabled"
	if len(users) > 0 {
		state = "enabled"
	}
	return []any{&object{props: []prop{
		{"Id", caPolicyID},
		{"DisplayName", tenant.CAPolicyName},
		{"State", state},
		{"IncludeUsers", users},
	}, table: []string{"Id", "DisplayName", "State"}}}, nil
}

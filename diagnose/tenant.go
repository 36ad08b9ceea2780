package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/probe"
)

// Tenant evidence (DESIGN.md "Classification principles" 3): what a tenant
// read returned can make a cause definitive and fill a remedy's names. It
// never replaces what the server said: when the words name one cause and
// the settings another, both are shown and the words keep the verdict.
//
// The settings are consulted in the order Exchange applies them to a
// login (tenant-api.md §9, the emulator's decide order is an independent
// reading of the same documents): the SMTP AUTH switches, the
// authentication policy (Exchange refuses before the password reaches
// Entra), then Entra (security defaults, Conditional Access), then the
// mailbox's protocol switches; for app-only XOAUTH2 the Exchange service
// principal and its mailbox permission.

// tenantCauses are causes a tenant setting can decide or contradict.
var tenantCauses = []Cause{
	CauseUnknown, CauseBasicAuthDisabled, CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx,
	CauseSecurityDefaults, CauseConditionalAccess, CauseMFARequired, CauseProtocolDisabled,
	CauseOAuthNotAuthorized, CauseBadCredentials, CauseOAuthTokenInvalid,
}

// settingsVerdict is what the settings alone say about one attempt.
type settingsVerdict struct {
	cause Cause
	conf  Confidence
	ev    evidence
}

// ApplyTenant returns findings upgraded with the tenant's settings: one
// per attempt, same order. Findings of successful attempts, of local
// causes (network, TLS, timeout, token endpoint) and of attempts the
// snapshot says nothing about are returned unchanged. s may be nil.
func ApplyTenant(attempts []probe.Attempt, findings []Finding, s *snapshot.Snapshot) []Finding {
	out := slices.Clone(findings)
	if s == nil {
		return out
	}
	for i := range out {
		if i >= len(attempts) || attempts[i].OK || !slices.Contains(tenantCauses, out[i].Cause) {
			continue
		}
		a := &attempts[i]
		f := &out[i]
		sv, ok := decideFromSettings(a, s)
		// The sign-in log's row decides what Entra did; the settings
		// Exchange applies before Entra (SMTP switches, policies) still
		// come first.
		if siv, sok := signInVerdict(a, s); sok && (!ok || entraLevel(sv.cause)) {
			if ok && sv.cause == siv.cause {
				// Both agree: keep both, the setting and the row.
				siv.ev.en, siv.ev.ja = append(sv.ev.en, siv.ev.en...), append(sv.ev.ja, siv.ev.ja...)
			}
			sv, ok = siv, true
		} else if len(siv.ev.en) > 0 {
			sv.ev.en, sv.ev.ja = append(sv.ev.en, siv.ev.en...), append(sv.ev.ja, siv.ev.ja...)
			if !ok {
				f.Evidence, f.EvidenceJA = append(f.Evidence, siv.ev.en...), alignJA(f.EvidenceJA, f.Evidence, siv.ev.ja)
			}
		}
		ev := evidence{en: f.Evidence, ja: f.EvidenceJA}
		if len(ev.ja) != len(ev.en) {
			ev.ja = slices.Clone(ev.en) // keep the two aligned
		}
		if ok && a.Mechanism == probe.Basic && (a.Protocol == probe.IMAP || a.Protocol == probe.POP) &&
			(sv.cause == CauseBasicAuthDisabled || sv.cause == CauseSecurityDefaults || sv.cause == CauseConditionalAccess) {
			// Basic IMAP/POP is retired in Exchange Online for every
			// tenant (tenant-api.md §9): these settings block it too, but
			// changing them would not bring the login back, so they are
			// evidence, not the verdict.
			ev.en, ev.ja = append(ev.en, sv.ev.en...), append(ev.ja, sv.ev.ja...)
			ev.add(fmt.Sprintf("these settings block Basic %s as well, but Exchange Online has retired Basic %s for every tenant: changing them does not bring the login back; the lasting fix is OAuth (XOAUTH2)", a.Protocol, a.Protocol),
				fmt.Sprintf("これらの設定も %s の基本認証をブロックしていますが、Exchange Online ではすべてのテナントで %s の基本認証が廃止されています。設定を変えてもログインは戻りません。恒久的な対処は OAuth (XOAUTH2) です", a.Protocol, a.Protocol))
			f.Evidence, f.EvidenceJA = ev.en, ev.ja
			// The settings show Basic is blocked here: a weak comparison
			// (PostureProof) is weak no longer.
			f.Weak = false
			continue
		}
		switch {
		case ok && sv.cause == f.Cause:
			ev.en, ev.ja = append(ev.en, sv.ev.en...), append(ev.ja, sv.ev.ja...)
			f.Weak = false // the settings show it: no longer a weak comparison
			if f.Confidence != Definitive {
				ev.add("the tenant's settings confirm it", "テナントの設定で確認されました")
			}
			if sv.conf == Definitive {
				f.Confidence = Definitive
			}
		case ok && f.Confidence == Definitive && f.Cause != CauseUnknown:
			// The words decided; the settings disagree: show it.
			ev.en, ev.ja = append(ev.en, sv.ev.en...), append(ev.ja, sv.ev.ja...)
			ev.add(fmt.Sprintf("contradiction: the server's words say %s, the tenant's settings point to %s; a recent change may not have reached the service yet (Exchange takes up to an hour, policies up to a day)", f.Cause, sv.cause),
				fmt.Sprintf("矛盾: サーバーの応答は %s を示していますが、テナントの設定は %s を示しています。最近の変更がまだサービスに反映されていない可能性があります (Exchange は最大 1 時間、ポリシーは最大 1 日)", f.Cause, sv.cause))
		case ok:
			ev.en, ev.ja = append(ev.en, sv.ev.en...), append(ev.ja, sv.ev.ja...)
			if f.Cause != CauseUnknown {
				ev.add(fmt.Sprintf("what the tenant reports decides it: %s, not %s (which the words alone suggested)", sv.cause, f.Cause),
					fmt.Sprintf("テナントの情報で判定されました: %s (応答だけから推測された %s ではありません)", sv.cause, f.Cause))
			}
			f.Cause, f.Confidence, f.Weak = sv.cause, sv.conf, false
		default:
			if c, ok := contradicts(a, f, s); ok {
				ev.en, ev.ja = append(ev.en, c.en...), append(ev.ja, c.ja...)
			}
		}
		f.Evidence, f.EvidenceJA = ev.en, ev.ja
		vars := TenantVars(s, a.User, appIDOf(a), varsFor(a))
		f.Remedy = TailorToTenant(RemedyFor(f.Cause, "en", vars), f.Cause, s, a.User, appIDOf(a))
	}
	return out
}

// entraLevel: causes Entra decides (after Exchange's own switches), where
// the sign-in log's row is better evidence than the settings.
func entraLevel(c Cause) bool {
	return c == CauseSecurityDefaults || c == CauseConditionalAccess || c == CauseMFARequired || c == CauseBadCredentials
}

// alignJA appends ja to a Japanese evidence list that is aligned with en
// (before the append); a misaligned one is rebuilt from en.
func alignJA(ja, enAfter, add []string) []string {
	if len(ja)+len(add) == len(enAfter) {
		return append(ja, add...)
	}
	return slices.Clone(enAfter)
}

func appIDOf(a *probe.Attempt) string {
	if a.Token != nil {
		return a.Token.AppID
	}
	return ""
}

func appOnly(a *probe.Attempt) bool {
	return a.Token != nil && (a.Token.Flow == "client_credentials" || (len(a.Token.Roles) > 0 && len(a.Token.Scopes) == 0))
}

func onOff(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func nullable(b *bool) string {
	if b == nil {
		return "(blank: follows the organization)"
	}
	return onOff(*b)
}

// decideFromSettings walks the settings in Exchange's order and returns
// the first that refuses this attempt.
func decideFromSettings(a *probe.Attempt, s *snapshot.Snapshot) (settingsVerdict, bool) {
	var v settingsVerdict
	proto := string(a.Protocol)
	mbx := a.User
	m := s.Mailbox(mbx)

	if proto == "smtp" {
		if disabled, src, ok := s.EffectiveSMTPAuthDisabled(mbx); ok && disabled {
			v.conf = Definitive
			if src == "mailbox" {
				v.cause = CauseSMTPAuthDisabledMbx
				v.ev.add(fmt.Sprintf("Get-CASMailbox %s: SmtpClientAuthenticationDisabled = True (the mailbox's own switch turns SMTP AUTH off, for Basic and OAuth)", mbx),
					fmt.Sprintf("Get-CASMailbox %s: SmtpClientAuthenticationDisabled = True (メールボックス自体の設定で SMTP AUTH が無効。基本認証と OAuth の両方)", mbx))
			} else {
				v.cause = CauseSMTPAuthDisabledTenant
				v.ev.add("Get-TransportConfig: SmtpClientAuthenticationDisabled = True", "Get-TransportConfig: SmtpClientAuthenticationDisabled = True")
				v.ev.add(fmt.Sprintf("Get-CASMailbox %s: SmtpClientAuthenticationDisabled is blank, so the organization's value applies", mbx),
					fmt.Sprintf("Get-CASMailbox %s: SmtpClientAuthenticationDisabled は空白のため、組織の値が適用されます", mbx))
			}
			return v, true
		}
	}
	if m != nil && m.CASRead && !m.Found {
		v.cause, v.conf = CauseBadCredentials, Inferred
		v.ev.add(fmt.Sprintf("Get-CASMailbox %s: no such mailbox in the tenant", mbx), fmt.Sprintf("Get-CASMailbox %s: テナントにそのメールボックスはありません", mbx))
		return v, true
	}

	if a.Mechanism == probe.Basic {
		if p, src, found, ok := s.EffectivePolicy(mbx); found && ok && !p.Allows(proto) {
			v.cause, v.conf = CauseBasicAuthDisabled, Definitive
			prop := map[string]string{"imap": "AllowBasicAuthImap", "pop": "AllowBasicAuthPop", "smtp": "AllowBasicAuthSmtp"}[proto]
			if src == "user" {
				v.ev.add(fmt.Sprintf("Get-User %s: AuthenticationPolicy = %s", mbx, p.Name), fmt.Sprintf("Get-User %s: AuthenticationPolicy = %s", mbx, p.Name))
			} else {
				v.ev.add(fmt.Sprintf("Get-User %s: AuthenticationPolicy is blank; Get-OrganizationConfig: DefaultAuthenticationPolicy = %s", mbx, p.Name),
					fmt.Sprintf("Get-User %s: AuthenticationPolicy は空白。Get-OrganizationConfig: DefaultAuthenticationPolicy = %s", mbx, p.Name))
			}
			v.ev.add(fmt.Sprintf("Get-AuthenticationPolicy %s: %s = False (Exchange refuses Basic %s before the password reaches Entra)", p.Name, prop, proto),
				fmt.Sprintf("Get-AuthenticationPolicy %s: %s = False (Exchange はパスワードが Entra に届く前に %s の基本認証を拒否します)", p.Name, prop, proto))
			return v, true
		}
		if sd := s.SecurityDefaults; sd != nil && sd.IsEnabled {
			v.cause, v.conf = CauseSecurityDefaults, Definitive
			v.ev.add("GET /policies/identitySecurityDefaultsEnforcementPolicy: isEnabled = true (Microsoft: with security defaults on, \"all authentication requests made by an older protocol will be blocked\", whatever the password)",
				"GET /policies/identitySecurityDefaultsEnforcementPolicy: isEnabled = true (Microsoft: セキュリティの既定値が有効な場合、パスワードにかかわらず「古いプロトコルによるすべての認証要求はブロックされます」)")
			return v, true
		}
		if names := legacyCA(s); len(names) > 0 {
			v.cause, v.conf = CauseConditionalAccess, Inferred
			v.ev.add(fmt.Sprintf("GET /identity/conditionalAccess/policies: enabled for legacy clients (\"other\") and all users: %s; any grant ends as a block for a password login (the sign-in log names the one that applied)", strings.Join(names, ", ")),
				fmt.Sprintf("GET /identity/conditionalAccess/policies: レガシー クライアント (\"other\") と全ユーザーに有効: %s。パスワード ログインではどの許可条件も結果的にブロックになります (適用されたポリシーはサインイン ログに記録されます)", strings.Join(names, ", ")))
			return v, true
		}
	}

	if a.Mechanism == probe.XOAUTH2 && appOnly(a) && a.Token.AppID != "" && s.ServicePrincipalsRead {
		app := a.Token.AppID
		sp, found := s.ExchangeSP(app)
		if !found {
			v.cause, v.conf = CauseOAuthNotAuthorized, Definitive
			v.ev.add(fmt.Sprintf("Get-ServicePrincipal: no service principal for AppId %s in Exchange (New-ServicePrincipal was not run for this app)", app),
				fmt.Sprintf("Get-ServicePrincipal: Exchange に AppId %s のサービス プリンシパルがありません (このアプリで New-ServicePrincipal が実行されていません)", app))
			return v, true
		}
		want := ""
		if ga := s.App(app); ga != nil && ga.ObjectID != "" {
			want = ga.ObjectID
		} else if a.Token.ObjectID != "" {
			want = a.Token.ObjectID
		}
		if want != "" && !strings.EqualFold(sp.ObjectID, want) {
			v.cause, v.conf = CauseOAuthNotAuthorized, Definitive
			v.ev.add(fmt.Sprintf("Get-ServicePrincipal %s: ObjectId = %s, but the app's enterprise application (service principal) object id is %s: Exchange's service principal was registered with the wrong object id", app, sp.ObjectID, want),
				fmt.Sprintf("Get-ServicePrincipal %s: ObjectId = %s ですが、アプリのエンタープライズ アプリケーション (サービス プリンシパル) のオブジェクト ID は %s です。Exchange のサービス プリンシパルが誤ったオブジェクト ID で登録されています", app, sp.ObjectID, want))
			return v, true
		}
		if (proto == "imap" || proto == "pop") && m != nil && m.PermissionsRead {
			if !hasFullAccess(m, sp) {
				v.cause, v.conf = CauseOAuthNotAuthorized, Definitive
				v.ev.add(fmt.Sprintf("Get-MailboxPermission %s: no FullAccess for the app's service principal %s (%s)", mbx, firstNonEmpty(sp.DisplayName, sp.ObjectID), sp.ObjectID),
					fmt.Sprintf("Get-MailboxPermission %s: アプリのサービス プリンシパル %s (%s) に FullAccess がありません", mbx, firstNonEmpty(sp.DisplayName, sp.ObjectID), sp.ObjectID))
				return v, true
			}
		}
	}

	if m != nil && m.CASRead && m.Found && (proto == "imap" || proto == "pop") {
		sw, name := m.ImapEnabled, "ImapEnabled"
		if proto == "pop" {
			sw, name = m.PopEnabled, "PopEnabled"
		}
		if sw != nil && !*sw {
			v.cause, v.conf = CauseProtocolDisabled, Definitive
			v.ev.add(fmt.Sprintf("Get-CASMailbox %s: %s = False", mbx, name), fmt.Sprintf("Get-CASMailbox %s: %s = False", mbx, name))
			return v, true
		}
	}
	return v, false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// hasFullAccess reports whether a permission row grants the service
// principal FullAccess. How Exchange renders a service principal in User
// is not confirmed (tenant-api.md §8.8): match its display name and ids.
func hasFullAccess(m *snapshot.Mailbox, sp snapshot.ExchangeSP) bool {
	for _, p := range m.Permissions {
		if !p.Has("FullAccess") {
			continue
		}
		for _, id := range []string{sp.DisplayName, sp.ObjectID, sp.AppID, sp.Identity} {
			if id != "" && strings.EqualFold(p.User, id) {
				return true
			}
		}
	}
	return false
}

// legacyCA names the enabled policies that target legacy clients and
// every user: those apply to any password login (tenant-api.md §4.4).
// Policies scoped to users, groups or roles only "may apply": the sign-in
// log decides those, not the settings.
func legacyCA(s *snapshot.Snapshot) []string {
	var out []string
	for _, p := range s.ConditionalAccess {
		if p.AppliesToLegacy() && slices.ContainsFunc(p.IncludeUsers, func(u string) bool { return strings.EqualFold(u, "All") }) && len(p.ExcludeUsers) == 0 {
			out = append(out, p.DisplayName)
		}
	}
	return out
}

// contradicts returns evidence when the words named a setting-based cause
// that the settings read shows is not in effect.
func contradicts(a *probe.Attempt, f *Finding, s *snapshot.Snapshot) (evidence, bool) {
	var ev evidence
	mbx := a.User
	switch f.Cause {
	case CauseSMTPAuthDisabledTenant, CauseSMTPAuthDisabledMbx:
		if disabled, src, ok := s.EffectiveSMTPAuthDisabled(mbx); ok && !disabled {
			m := s.Mailbox(mbx)
			ev.add(fmt.Sprintf("contradiction: the server says SMTP AUTH is disabled, but Get-CASMailbox %s: SmtpClientAuthenticationDisabled = %s and Get-TransportConfig: SmtpClientAuthenticationDisabled = %s (%s value in force); a change may not have reached the service yet (up to an hour)", mbx, nullable(m.SmtpClientAuthenticationDisabled), tcValue(s), src),
				fmt.Sprintf("矛盾: サーバーは SMTP AUTH が無効と応答していますが、Get-CASMailbox %s: SmtpClientAuthenticationDisabled = %s、Get-TransportConfig: SmtpClientAuthenticationDisabled = %s です。変更がまだサービスに反映されていない可能性があります (最大 1 時間)", mbx, nullable(m.SmtpClientAuthenticationDisabled), tcValue(s)))
			return ev, true
		}
	case CauseSecurityDefaults:
		if sd := s.SecurityDefaults; sd != nil && !sd.IsEnabled {
			ev.add("contradiction: the words say security defaults, but GET /policies/identitySecurityDefaultsEnforcementPolicy: isEnabled = false",
				"矛盾: 応答はセキュリティの既定値を示していますが、GET /policies/identitySecurityDefaultsEnforcementPolicy: isEnabled = false です")
			return ev, true
		}
	case CauseBasicAuthDisabled:
		if p, _, found, ok := s.EffectivePolicy(mbx); ok && (!found || p.Allows(string(a.Protocol))) && a.Mechanism == probe.Basic {
			what := "no authentication policy applies to the user"
			if found {
				what = fmt.Sprintf("the policy in force, %s, allows Basic %s", p.Name, a.Protocol)
			}
			ev.add(fmt.Sprintf("the tenant's settings do not block Basic here: %s", what),
				fmt.Sprintf("テナントの設定はここで基本認証をブロックしていません: %s", what))
			return ev, true
		}
	case CauseProtocolDisabled:
		if m := s.Mailbox(mbx); m != nil && m.CASRead && m.Found {
			sw, name := m.ImapEnabled, "ImapEnabled"
			if a.Protocol == probe.POP {
				sw, name = m.PopEnabled, "PopEnabled"
			}
			if sw != nil && *sw {
				ev.add(fmt.Sprintf("the tenant's settings: Get-CASMailbox %s: %s = True, so the protocol is on; the same words also mean a missing mailbox permission or throttling", mbx, name),
					fmt.Sprintf("テナントの設定: Get-CASMailbox %s: %s = True のためプロトコルは有効です。同じ応答はメールボックスのアクセス許可の不足や調整も意味します", mbx, name))
				return ev, true
			}
		}
	}
	return ev, false
}

func tcValue(s *snapshot.Snapshot) string {
	if s.TransportConfig == nil {
		return "(not read)"
	}
	return onOff(s.TransportConfig.SmtpClientAuthenticationDisabled)
}

// TenantVars fills a remedy's names from the tenant: the authentication
// policy in force for the mailbox's user, the app's enterprise object id
// and the identity of its service principal in Exchange. Values already
// in base win (the configuration said them).
func TenantVars(s *snapshot.Snapshot, mailbox, appID string, base Vars) Vars {
	v := base
	if s == nil {
		return v
	}
	if v.Policy == "" {
		if p, _, found, _ := s.EffectivePolicy(mailbox); found && p.Name != "" {
			v.Policy = p.Name
		}
	}
	if appID != "" {
		if v.AppID == "" {
			v.AppID = appID
		}
		if ga := s.App(appID); ga != nil && ga.ObjectID != "" && v.ObjectID == "" {
			v.ObjectID = ga.ObjectID
		}
		if sp, ok := s.ExchangeSP(appID); ok && v.ServicePrincipalID == "" && sp.ObjectID != "" &&
			(v.ObjectID == "" || strings.EqualFold(sp.ObjectID, v.ObjectID)) {
			v.ServicePrincipalID = sp.ObjectID
		}
	}
	return v
}

// TailorToTenant drops fix lines the tenant shows are done already (a
// New-ServicePrincipal for an app Exchange already knows under the right
// object id), so that every line left is one to run.
func TailorToTenant(r Remedy, c Cause, s *snapshot.Snapshot, mailbox, appID string) Remedy {
	if s == nil || appID == "" || !s.ServicePrincipalsRead {
		return r
	}
	switch c {
	case CauseOAuthNotAuthorized, CauseBasicAuthRetired:
	default:
		return r
	}
	sp, found := s.ExchangeSP(appID)
	if !found {
		return r
	}
	ga := s.App(appID)
	if ga != nil && ga.ObjectID != "" && !strings.EqualFold(ga.ObjectID, sp.ObjectID) {
		// Registered under the wrong object id: remove it, then register.
		r.Fix = append([]string{"Remove-ServicePrincipal -Identity " + psArg(sp.ObjectID) + " -Confirm:$false"}, r.Fix...)
		return r
	}
	r.Fix = slices.DeleteFunc(r.Fix, func(l string) bool { return strings.HasPrefix(l, "New-ServicePrincipal ") })
	if m := s.Mailbox(mailbox); m != nil && m.PermissionsRead && hasFullAccess(m, sp) {
		r.Fix = slices.DeleteFunc(r.Fix, func(l string) bool { return strings.HasPrefix(l, "Add-MailboxPermission ") })
	}
	return r
}

package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/internal/inert"
	"github.com/exoprobe/exoprobe/scheduler"
)

// Tenant incidents: what a tenant read shows ahead of breakage (issue 10
// item 5), before any check fails. They are groups like the checks' —
// problem × scope, the scope being the tenant's name in the configuration
// — whose members are conditions instead of checks: one credential, one
// user still logging in with Basic SMTP, one setting change. They go
// through the same grouping, routes (kind "tenant"), silences and durable
// outbox, and resolve when a later read no longer shows them.

// KindTenant is the event kind of tenant conditions (routes' kinds).
const KindTenant scheduler.EventKind = "tenant"

// Tenant problems, the groups' problem ids (and the "cause" label).
const (
	// ProblemCredentialExpiring: an app secret or certificate (or the
	// local certificate file) ends within the warning horizon, or ended.
	ProblemCredentialExpiring = "tenant_credential_expiring"
	// ProblemBasicSignIns: users still log in with Basic SMTP AUTH while
	// the end-of-December 2026 cut-off approaches.
	ProblemBasicSignIns = "tenant_basic_signins"
	// ProblemSettingChanged: a setting that decides mail logins changed
	// between two reads.
	ProblemSettingChanged = "tenant_setting_changed"
)

// TenantProblems lists the tenant problems.
func TenantProblems() []string {
	return []string{ProblemCredentialExpiring, ProblemBasicSignIns, ProblemSettingChanged}
}

var tenantAlertNames = map[string]string{
	ProblemCredentialExpiring: "ExoprobeAppCredentialExpiring",
	ProblemBasicSignIns:       "ExoprobeBasicSMTPBeforeCutoff",
	ProblemSettingChanged:     "ExoprobeTenantSettingChanged",
}

func tenantProblem(p string) bool { return slices.Contains(TenantProblems(), p) }

// TenantCondition is one thing a tenant read shows.
type TenantCondition struct {
	Problem string
	// ID is stable for the same condition across reads (an app's key id,
	// a user, a change's setting and time): a condition seen again is not
	// notified again.
	ID string
	// Detail is the one line shown for it ("exoprobe demo secret … expires
	// 2026-12-13 (10 days)").
	Detail string
	// User is the mailbox or user it is about, if any; AppID the app.
	User, AppID string
	// Setting is the kind of setting a change is about (transport_config,
	// security_defaults, ...).
	Setting string
	Since   time.Time
}

func tenantCheckID(tenant, problem, id string) scheduler.CheckID {
	return scheduler.CheckID("tenant:" + tenant + "/" + problem + "/" + id)
}

// SetTenant reconciles the tenant's incidents with a read: for each
// problem in evaluated (the read could decide it), conditions not firing
// yet join its group and members no longer shown resolve. Problems not
// evaluated (that part of the read failed) are left as they were: a
// failed read resolves nothing. Safe for concurrent use.
func (m *Manager) SetTenant(tenant string, evaluated []string, conds []TenantCondition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	touched := map[string]bool{}
	for _, prob := range evaluated {
		if !tenantProblem(prob) {
			continue
		}
		key := prob + "/" + tenant
		want := map[scheduler.CheckID]TenantCondition{}
		for _, c := range conds {
			if c.Problem == prob {
				want[tenantCheckID(tenant, prob, c.ID)] = c
			}
		}
		g := m.groups[key]
		if g != nil {
			for id, mem := range g.Members {
				if _, ok := want[id]; ok {
					continue
				}
				delete(g.Members, id)
				delete(m.index, id)
				mem.ResolvedAt, mem.NowCause, mem.New = now, diagnose.CauseOK, false
				g.Gone[id] = mem
				g.touch(now)
				touched[key] = true
			}
		}
		for id, c := range want {
			if g == nil {
				g = &group{Key: key, Problem: prob, Scope: tenant, Created: now}
				g.init()
				m.groups[key] = g
			}
			since := c.Since
			if since.IsZero() {
				since = now
			}
			mem := Member{CheckID: id, Target: tenant, User: c.User, Kind: KindTenant, Cause: diagnose.Cause(prob),
				Since: since, Detail: c.Detail, Labels: map[string]string{"tenant": tenant}}
			if c.AppID != "" {
				mem.Labels["app_id"] = c.AppID
			}
			if c.Setting != "" {
				mem.Labels["setting"] = c.Setting
			}
			if old, ok := g.Members[id]; ok {
				// Seen again: refresh the line (days left), no message.
				mem.Since = old.Since
				if old.Detail != mem.Detail {
					g.Members[id] = mem
					touched[key] = true
				}
				continue
			}
			delete(g.Gone, id)
			g.Members[id] = mem
			m.index[id] = key
			g.touch(now)
			touched[key] = true
		}
	}
	if len(touched) == 0 {
		return nil
	}
	err := m.db.Update(func(tx *bolt.Tx) error {
		for key := range touched {
			if err := putGroup(tx, m.groups[key]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alerts: store tenant incidents of %s: %w", tenant, err)
	}
	signal(m.wake)
	return nil
}

type tenantWords struct {
	title, firing, resolved, tenant, summary string
	inspect                                  []string
	steps                                    []string
	links                                    []string
}

var tenantDict = map[string]map[string]tenantWords{
	"en": {
		ProblemCredentialExpiring: {
			title:    "App secret or certificate expiring",
			firing:   "%d app credential(s) expire within the warning horizon or have expired.",
			resolved: "%d app credential(s) no longer expiring (renewed or removed); %d still expiring.",
			summary: "When an app's client secret or certificate expires, its token requests fail (AADSTS7000222 for a secret) " +
				"and every XOAUTH2 login with it stops. Add a new secret or certificate before the date, give it to exoprobe " +
				"and the application, then remove the old one.",
			inspect: []string{`Get-MgApplication -Filter "appId eq '<AppId>'" | Select-Object -ExpandProperty PasswordCredentials | Select-Object KeyId,DisplayName,EndDateTime`,
				`Get-MgApplication -Filter "appId eq '<AppId>'" | Select-Object -ExpandProperty KeyCredentials | Select-Object KeyId,DisplayName,EndDateTime`},
			steps: []string{"Entra admin center > App registrations > the app > Certificates & secrets: add a new client secret (or upload a new certificate) with a later end date.",
				"Write it to the file exoprobe reads (client_secret_file or cert_file) and to every application using the app, then reload exoprobe (SIGHUP or POST /-/reload).",
				"Once nothing uses the old secret or certificate, delete it.",
				"A local certificate file (source: local) is renewed the same way: a new certificate in the app registration and in the file."},
			links: []string{"https://learn.microsoft.com/entra/identity-platform/howto-create-service-principal-portal",
				"https://learn.microsoft.com/graph/api/application-addpassword"},
		},
		ProblemBasicSignIns: {
			title:    "Basic SMTP sign-ins before the cut-off",
			firing:   "%d user(s) still logged in with Basic SMTP AUTH in the sign-in log's window.",
			resolved: "%d user(s) no longer seen logging in with Basic SMTP AUTH; %d still are.",
			summary: "Microsoft turns Basic SMTP AUTH off by default for existing tenants at the end of December 2026 (%s). " +
				"These users, devices and apps still log in with a password over SMTP: move each to OAuth (SASL XOAUTH2) " +
				"before then, or their mail stops.",
			inspect: []string{`Get-MgAuditLogSignIn -Filter "clientAppUsed eq 'Authenticated SMTP'" -Top 100 | Select-Object CreatedDateTime,UserPrincipalName,IpAddress,AppDisplayName`},
			steps: []string{"For each user listed, find the device or application (the sign-in's IP address) and move it to OAuth: an app registration with SMTP.SendAsApp (or the delegated SMTP.Send), New-ServicePrincipal and Add-MailboxPermission (exoprobe explain oauth_not_authorized).",
				"Add an exoprobe check for each user no check covers yet, so the cut-off shows as a failing check and not as a silent outage."},
			links: []string{"https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835",
				"https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth"},
		},
		ProblemSettingChanged: {
			title:    "Tenant setting changed",
			firing:   "%d setting(s) that decide mail logins changed since the previous read, before any check failed because of them.",
			resolved: "%d setting change(s) older than 30 minutes; %d still recent.",
			summary: "A tenant setting that decides whether mailboxes can log in changed. If the change was planned, nothing " +
				"to do: this resolves 30 minutes after the change. If not, find who changed it (the audit log) and put it back; " +
				"the lines below show the setting as it is now.",
			steps: []string{"Who changed it: Microsoft Purview audit (Search-UnifiedAuditLog -StartDate (Get-Date).AddDays(-1) -EndDate (Get-Date) -RecordType ExchangeAdmin) or the Entra audit log for security defaults and Conditional Access."},
			links: []string{"https://learn.microsoft.com/powershell/module/exchange/search-unifiedauditlog"},
		},
	},
	"ja": {
		ProblemCredentialExpiring: {
			title:    "アプリのシークレット/証明書の期限切れが近い",
			firing:   "%d 件のアプリ資格情報が警告期間内に期限切れになります (または期限切れです)。",
			resolved: "%d 件のアプリ資格情報が更新または削除されました (%d 件は継続中)。",
			summary: "アプリのクライアント シークレットまたは証明書が期限切れになると、トークン要求が失敗し (シークレットでは AADSTS7000222)、" +
				"それを使う XOAUTH2 ログインはすべて止まります。期限前に新しいシークレットまたは証明書を追加し、exoprobe とアプリケーションに設定してから古いものを削除してください。",
			inspect: nil,
			steps: []string{"Entra 管理センター > アプリの登録 > 対象アプリ > 証明書とシークレット で、より遅い有効期限の新しいクライアント シークレットを追加 (または新しい証明書をアップロード) します。",
				"exoprobe が読むファイル (client_secret_file または cert_file) とアプリを使うすべてのアプリケーションに設定し、exoprobe を再読み込みします (SIGHUP または POST /-/reload)。",
				"古いシークレットまたは証明書を使うものがなくなったら削除します。",
				"ローカルの証明書ファイル (source: local) も同様に、アプリの登録とファイルの両方で新しい証明書に更新します。"},
		},
		ProblemBasicSignIns: {
			title:    "期限前の基本認証 SMTP サインイン",
			firing:   "%d 人のユーザーがサインイン ログの期間内に基本認証の SMTP AUTH でログインしています。",
			resolved: "%d 人のユーザーの基本認証 SMTP ログインが見られなくなりました (%d 人は継続中)。",
			summary: "Microsoft は既存テナントの基本認証 SMTP AUTH を 2026 年 12 月末に既定で無効にします (%s)。" +
				"これらのユーザー、デバイス、アプリは今もパスワードで SMTP にログインしています。それまでに OAuth (SASL XOAUTH2) に移行しないとメールが止まります。",
			steps: []string{"各ユーザーについて、サインインの IP アドレスからデバイスまたはアプリケーションを特定し、OAuth に移行します (SMTP.SendAsApp を持つアプリの登録、New-ServicePrincipal、Add-MailboxPermission。exoprobe explain oauth_not_authorized を参照)。",
				"まだチェックのないユーザーには exoprobe のチェックを追加し、期限到来時に気付かない障害にならないようにします。"},
		},
		ProblemSettingChanged: {
			title:    "テナント設定の変更",
			firing:   "メール ログインを左右する設定が前回の読み取りから %d 件変更されました (チェックの失敗より前に検出)。",
			resolved: "%d 件の設定変更から 30 分が経過しました (%d 件は直近の変更)。",
			summary: "メールボックスがログインできるかを決めるテナント設定が変更されました。計画どおりの変更なら対処は不要で、変更の 30 分後に解決します。" +
				"そうでなければ監査ログで変更者を確認し、元に戻してください。下の確認コマンドは現在の設定を表示します。",
			steps: []string{"変更者の確認: Microsoft Purview 監査 (Search-UnifiedAuditLog -StartDate (Get-Date).AddDays(-1) -EndDate (Get-Date) -RecordType ExchangeAdmin)、セキュリティの既定値群と条件付きアクセスは Entra の監査ログ。"},
		},
	},
}

// settingInspect is the line that shows a changed setting as it is now.
var settingInspect = map[string]string{
	"transport_config":              "Get-TransportConfig | Select-Object SmtpClientAuthenticationDisabled",
	"security_defaults":             "Get-MgPolicyIdentitySecurityDefaultEnforcementPolicy | Select-Object IsEnabled",
	"default_authentication_policy": "Get-OrganizationConfig | Select-Object DefaultAuthenticationPolicy",
	"authentication_policy":         "Get-AuthenticationPolicy | Select-Object Name,AllowBasicAuthSmtp,AllowBasicAuthImap,AllowBasicAuthPop",
	"mailbox_cas":                   "Get-CASMailbox -Identity <mailbox> | Select-Object SmtpClientAuthenticationDisabled,ImapEnabled,PopEnabled",
	"mailbox_policy":                "Get-User -Identity <mailbox> | Select-Object AuthenticationPolicy",
	"conditional_access":            "Get-MgIdentityConditionalAccessPolicy | Select-Object DisplayName,State",
}

// renderTenant is Render for a tenant incident.
func renderTenant(n *Notification, lang string) Content {
	w, tw := dict[lang], tenantDict[lang][n.Problem]
	en := tenantDict["en"][n.Problem]
	if tw.inspect == nil {
		tw.inspect = en.inspect
	}
	if tw.links == nil {
		tw.links = en.links
	}
	c := Content{Lang: lang, Link: n.StatusURL, Severity: "warning"}
	if n.Problem == ProblemCredentialExpiring {
		for _, m := range n.Firing {
			if strings.Contains(m.Detail, "EXPIRED") {
				c.Severity = "error"
			}
		}
	}
	members := n.Firing
	switch {
	case n.Status == StatusResolved || n.Kind == scheduler.EventRecovered:
		c.Severity, members = "info", n.Resolved
		prefix := w.resolved
		if n.Status != StatusResolved {
			prefix = w.partly
		}
		c.Title = prefix + ": " + tw.title + " — " + n.Scope
		c.Summary = fmt.Sprintf(tw.resolved, len(n.Resolved), len(n.Firing))
	default:
		title := tw.title
		if n.Repeat {
			title = w.reminder + ": " + title
		}
		c.Title = title + " — " + n.Scope
		c.Summary = fmt.Sprintf(tw.firing, len(n.Firing))
	}
	if len(members) > 1 {
		c.Title += fmt.Sprintf(" (%d)", len(members))
	}
	c.Facts = append(c.Facts, Fact{w.cause, n.Problem}, Fact{"tenant", n.Scope})
	if t := earliest(members); !t.IsZero() {
		c.Facts = append(c.Facts, Fact{w.since, t.UTC().Format(time.RFC3339)})
	}
	for i := range members {
		if i == maxCheckLines {
			c.Checks = append(c.Checks, fmt.Sprintf(w.more, len(members)-maxCheckLines))
			break
		}
		// Tenant text (names, policies) made inert like a server's words.
		c.Checks = append(c.Checks, inert.Line(members[i].Detail))
	}
	if n.Status != StatusFiring {
		return c
	}
	c.Remedy = tw.summary
	if n.Problem == ProblemBasicSignIns {
		days := int(time.Until(snapshot.BasicSMTPCutoff).Hours() / 24)
		if !n.Time.IsZero() {
			days = int(snapshot.BasicSMTPCutoff.Sub(n.Time).Hours() / 24)
		}
		c.Remedy = fmt.Sprintf(tw.summary, fmt.Sprintf("%s, %d", snapshot.BasicSMTPCutoff.Format("2006-01-02"), days)+map[string]string{"en": " days left", "ja": " 日後"}[lang])
	}
	seen := map[string]bool{}
	addInspect := func(l string) {
		if !seen[l] {
			seen[l] = true
			c.Inspect = append(c.Inspect, l)
		}
	}
	switch n.Problem {
	case ProblemCredentialExpiring:
		for _, m := range members {
			if app := m.Labels["app_id"]; app != "" {
				for _, l := range tw.inspect {
					addInspect(strings.ReplaceAll(l, "<AppId>", app))
				}
			}
		}
	case ProblemSettingChanged:
		for _, m := range members {
			if l, ok := settingInspect[m.Labels["setting"]]; ok {
				if m.User != "" {
					l = strings.ReplaceAll(l, "<mailbox>", m.User)
				}
				addInspect(l)
			}
		}
	default:
		for _, l := range tw.inspect {
			addInspect(l)
		}
	}
	c.Steps, c.Links = slices.Clone(tw.steps), slices.Clone(tw.links)
	return c
}

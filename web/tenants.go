package web

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/inspect"
)

// TenantView is one tenant's latest read for the status page: the audit
// (what `exoprobe tenant audit` and /api/v1/tenants show) and the settings
// seen to change between reads.
type TenantView struct {
	Audit   inspect.Audit
	Changes []string
}

// maxTenantRows bounds each table of the tenant section: the page stays
// small for a tenant with thousands of Basic devices (the API has them all).
const maxTenantRows = 100

var tenantLabels = map[string]map[string]string{
	langEN: {"tenant": "Tenant", "read_at": "read", "cutoff": "Basic SMTP AUTH turns off by default on", "days_left": "days left",
		"will_break": "still logging in with Basic SMTP:", "ca": "Conditional Access for legacy clients", "signins": "Basic sign-ins (SMTP, IMAP, POP) in the sign-in log",
		"user": "User", "client": "Client", "ok": "OK", "failed": "Failed", "last_seen": "Last seen", "checked": "Checked by exoprobe",
		"yes": "yes", "no": "no", "none": "None in the window.", "creds": "App secrets and certificates", "app": "App", "type": "Type",
		"name": "Name", "expires": "Expires", "changes": "Settings changed since an earlier read", "problems": "Not read",
		"days": "Days left", "mailboxes": "Mailboxes", "mailbox": "Mailbox", "smtp_auth": "SMTP AUTH", "policy": "Authentication policy",
		"on": "on", "off": "off", "from_mailbox": "mailbox", "from_org": "organization", "more": "more in /api/v1/tenants"},
	langJA: {"tenant": "テナント", "read_at": "取得", "cutoff": "基本認証の SMTP AUTH が既定で無効になる日:", "days_left": "日",
		"will_break": "まだ基本認証で SMTP にログインしているユーザー:", "ca": "レガシー クライアント向け条件付きアクセス", "signins": "サインイン ログの基本認証 (SMTP、IMAP、POP)",
		"user": "ユーザー", "client": "クライアント", "ok": "成功", "failed": "失敗", "last_seen": "最終", "checked": "exoprobe で監視",
		"yes": "はい", "no": "いいえ", "none": "期間内にはありません。", "creds": "アプリのシークレットと証明書", "app": "アプリ", "type": "種類",
		"name": "名前", "expires": "有効期限", "changes": "前回の取得から変わった設定", "problems": "取得できなかった項目",
		"days": "残り日数", "mailboxes": "メールボックス", "mailbox": "メールボックス", "smtp_auth": "SMTP AUTH", "policy": "認証ポリシー",
		"on": "有効", "off": "無効", "from_mailbox": "メールボックス", "from_org": "組織", "more": "件は /api/v1/tenants に"},
}

type tenantSectionData struct {
	L       map[string]string
	Tenants []tenantSectionView
}

type tenantSectionView struct {
	Name, ReadAt, Cutoff string
	CutoffDays           int
	WillBreak            []string
	SMTPOff, SecDefaults string
	Policies, CA         []string
	SignIns              []tenantSignInRow
	Creds                []tenantCredRow
	Mailboxes            []tenantMailboxRow
	MoreMailboxes        int
	Changes, Problems    []string
}

type tenantSignInRow struct {
	User, Client, IP, LastSeen string
	OK, Failed                 int
	Covered                    bool
}

type tenantMailboxRow struct {
	Address, SMTPAuth, Source, Imap, Pop, Policy string
	SMTPOn, Covered                              bool
}

type tenantCredRow struct {
	App, Type, Name, Expires string
	Days                     int
	Warn                     bool
}

var tenantTmpl = template.Must(template.New("t").Funcs(template.FuncMap{"join": strings.Join}).
	ParseFS(templateFS, "templates/tenant-section.html"))

// renderTenants renders the tenant section; every text from the tenant is
// escaped by html/template and scrubbed like any text the page did not write.
func renderTenants(lang string, views []TenantView) (template.HTML, error) {
	if len(views) == 0 {
		return "", nil
	}
	d := tenantSectionData{L: tenantLabels[lang]}
	if d.L == nil {
		d.L = tenantLabels[langEN]
	}
	for _, v := range views {
		a := v.Audit
		tv := tenantSectionView{Name: a.Tenant, Cutoff: a.Cutoff.Date.Format("2006-01-02"), CutoffDays: a.Cutoff.DaysLeft,
			WillBreak: a.Cutoff.BasicSMTPUsers, Changes: scrubAll(v.Changes), Problems: scrubAll(a.Problems)}
		if !a.ReadAt.IsZero() {
			tv.ReadAt = fmtTime(a.ReadAt)
		}
		if a.TransportConfig != nil {
			tv.SMTPOff = fmt.Sprintf("%t", a.TransportConfig.SmtpClientAuthenticationDisabled)
		}
		if a.SecurityDefaults != nil {
			tv.SecDefaults = fmt.Sprintf("%t", a.SecurityDefaults.IsEnabled)
		}
		for _, p := range a.AuthenticationPolicies {
			def := ""
			if p.IsDefault {
				def = " (default)"
			}
			tv.Policies = append(tv.Policies, fmt.Sprintf("%s%s: AllowBasicAuthSmtp=%t AllowBasicAuthImap=%t AllowBasicAuthPop=%t", p.Name, def, p.AllowBasicAuthSmtp, p.AllowBasicAuthImap, p.AllowBasicAuthPop))
		}
		for _, p := range a.ConditionalAccess {
			tv.CA = append(tv.CA, fmt.Sprintf("%s (%s, %s, blocks legacy: %t)", p.DisplayName, p.State, strings.Join(p.BuiltInControls, ","), p.Blocks))
		}
		for i, s := range a.BasicAuthSignIns {
			if i == maxTenantRows {
				break
			}
			tv.SignIns = append(tv.SignIns, tenantSignInRow{User: s.UserPrincipalName, Client: s.ClientAppUsed, IP: s.IPAddress,
				LastSeen: fmtTime(s.LastSeen), OK: s.Successes, Failed: s.Failures, Covered: s.Covered})
		}
		for i, m := range a.Mailboxes {
			if i == maxTenantRows {
				tv.MoreMailboxes = len(a.Mailboxes) - maxTenantRows
				break
			}
			r := tenantMailboxRow{Address: m.Address, Imap: boolCell(m.ImapEnabled), Pop: boolCell(m.PopEnabled), Covered: m.Covered}
			if m.SMTPAuth != nil {
				r.SMTPOn = m.SMTPAuth.Enabled
				r.SMTPAuth, r.Source = d.L["off"], d.L["from_org"]
				if m.SMTPAuth.Enabled {
					r.SMTPAuth = d.L["on"]
				}
				if m.SMTPAuth.Source == "mailbox" {
					r.Source = d.L["from_mailbox"]
				}
			}
			if m.AuthenticationPolicy != nil {
				r.Policy = *m.AuthenticationPolicy
				if m.PolicySource != "" {
					r.Policy += " (" + m.PolicySource + ")"
				}
			}
			tv.Mailboxes = append(tv.Mailboxes, r)
		}
		for i, c := range a.AppCredentials {
			if i == maxTenantRows {
				break
			}
			tv.Creds = append(tv.Creds, tenantCredRow{App: firstNonEmpty(c.AppName, c.AppID, c.Source), Type: c.Type,
				Name: firstNonEmpty(c.DisplayName, c.KeyID), Expires: c.EndDateTime.UTC().Format(time.DateOnly), Days: c.DaysLeft, Warn: c.Expiring || c.Expired})
		}
		d.Tenants = append(d.Tenants, tv)
	}
	var b bytes.Buffer
	if err := tenantTmpl.ExecuteTemplate(&b, "tenant-section", d); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

func boolCell(b *bool) string {
	if b == nil {
		return ""
	}
	return fmt.Sprintf("%t", *b)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// TenantBasicSignIn is a Basic login the sign-in log shows and no check
// covers: it breaks when Basic is turned off, and exoprobe would not see it.
type TenantBasicSignIn struct {
	Tenant            string    `json:"tenant"`
	UserPrincipalName string    `json:"userPrincipalName"`
	ClientAppUsed     string    `json:"clientAppUsed"`
	IPAddress         string    `json:"ipAddress"`
	LastSeen          time.Time `json:"last_seen"`
}

// addTenantReadiness adds the uncovered successful Basic sign-ins to the
// readiness report; any of them makes the tenant not ready.
func addTenantReadiness(r *Readiness, views []TenantView) {
	for _, v := range views {
		for _, s := range v.Audit.BasicAuthSignIns {
			if s.Covered || s.Successes == 0 {
				continue
			}
			r.TenantBasicSignIns = append(r.TenantBasicSignIns, TenantBasicSignIn{Tenant: v.Audit.Tenant,
				UserPrincipalName: s.UserPrincipalName, ClientAppUsed: s.ClientAppUsed, IPAddress: s.IPAddress, LastSeen: s.LastSeen})
			r.Ready = false
		}
	}
}

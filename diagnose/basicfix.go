package diagnose

import (
	"fmt"
	"slices"
	"strings"
)

// basicParams are the authentication policy switches per protocol, in the
// article's order (Pop, Imap, Smtp).
var basicParams = []struct{ proto, param string }{
	{"pop", "-AllowBasicAuthPop"}, {"imap", "-AllowBasicAuthImap"}, {"smtp", "-AllowBasicAuthSmtp"},
}

var (
	// oauthLeadSMTP is oauthLeadStep for SMTP: the lasting fix leads.
	oauthLeadSMTP = [2]string{
		"Lasting fix: move the application to OAuth (SASL XOAUTH2) and keep Basic off: register an app with SMTP.SendAsApp (or the delegated SMTP.Send) and admin consent, then New-ServicePrincipal and Add-MailboxPermission for it (exoprobe explain oauth_not_authorized). Only if it cannot move yet, allow Basic as below.",
		"恒久的な対策: アプリケーションを OAuth (SASL XOAUTH2) に移行し、基本認証は無効のままにします。SMTP.SendAsApp (委任では SMTP.Send) のアクセス許可と管理者の同意を持つアプリを登録し、New-ServicePrincipal と Add-MailboxPermission を実行します (exoprobe explain oauth_not_authorized)。すぐに移行できない場合に限り、以下のとおり基本認証を許可します。",
	}
	// caveatPostureChange says plainly what the fix line does to posture.
	caveatPostureChange = [2]string{
		"Enabling Basic authentication is a posture change: the fix line allows password-only logins (no MFA) over %s, and nothing else, for every user the policy applies to (the organization's default policy applies to every user without a policy of their own). A check that watches Basic stay off there (expect: fail) will fire.",
		"基本認証の有効化はセキュリティ ポスチャの変更です。修正コマンドは %s についてのみ、パスワードだけ (MFA なし) のログインを、このポリシーが適用されるすべてのユーザーに許可します (組織の既定ポリシーは、個別のポリシーがないすべてのユーザーに適用されます)。そこで基本認証が無効であることを監視するチェック (expect: fail) は警告を出します。",
	}
	// stepOwnPolicy keeps a shared policy as it is.
	stepOwnPolicy = [2]string{
		"If another user of that policy must keep Basic off, do not change the shared policy; give this user one of its own: New-AuthenticationPolicy -Name '<user> Basic' %s, then Set-User -Identity <user> -AuthenticationPolicy '<user> Basic' (and the Set-User -STSRefreshTokensValidFrom line).",
		"そのポリシーの他のユーザーで基本認証を無効のままにする必要がある場合は、共有のポリシーを変更せず、このユーザー専用のポリシーを割り当てます: New-AuthenticationPolicy -Name '<user> Basic' %s の後に Set-User -Identity <user> -AuthenticationPolicy '<user> Basic' (と Set-User -STSRefreshTokensValidFrom の行) を実行します。",
	}
)

// tailorBasicAuthDisabled narrows the article's policy line to the
// protocol(s) whose Basic login failed: the article enables Pop, Imap and
// Smtp at once, and after an SMTP-only refusal that would let Basic IMAP
// and POP in where posture checks guard them. OAuth leads as the lasting
// fix, and a caveat says the line is a posture change. An empty protocol
// (a reference, no failing check) keeps the article's line.
func tailorBasicAuthDisabled(r *Remedy, l int, p string) {
	var switches, names []string
	for _, bp := range basicParams {
		if p != "" && strings.Contains(p, bp.proto) {
			switches = append(switches, bp.param)
			names = append(names, strings.ToUpper(bp.proto))
		}
	}
	if len(switches) > 0 {
		for i, f := range r.Fix {
			if strings.HasPrefix(f, "Set-AuthenticationPolicy ") {
				r.Fix[i] = "Set-AuthenticationPolicy -Identity <policy> " + strings.Join(switches, " ")
			}
		}
	}
	imapPop := p == "" || strings.Contains(p, "imap") || strings.Contains(p, "pop")
	smtp := p == "" || strings.Contains(p, "smtp")
	if p != "" {
		lead := oauthLeadStep[l]
		if !imapPop {
			lead = oauthLeadSMTP[l]
		}
		r.Steps = append([]string{lead}, slices.DeleteFunc(slices.Clone(r.Steps), func(s string) bool { return s == betterOAuthStep[l] })...)
		var lead2 []string
		if !smtp {
			// IMAP/POP only: Basic is retired in Exchange Online, so the
			// article's policy line is for where the tenant still allows it.
			lead2 = append(lead2, caveatPolicyOnlyWhereAllowed[l])
		}
		if len(switches) > 0 {
			lead2 = append(lead2, fmt.Sprintf(caveatPostureChange[l], strings.Join(names, ", ")))
			r.Steps = append(r.Steps, fmt.Sprintf(stepOwnPolicy[l], strings.Join(switches, " ")))
		}
		r.Caveats = append(lead2, r.Caveats...)
	}
	if imapPop {
		r.Caveats = append(r.Caveats, caveatImapPopRetired[l])
	}
	if smtp {
		r.Caveats = append(r.Caveats, smtpBasicCaveat(l))
	}
	if l == en {
		r.Caveats = append(r.Caveats, "Consumer Outlook.com/Hotmail accounts lost Basic authentication on 2024-09-16; no setting brings it back.")
	} else {
		r.Caveats = append(r.Caveats, "Outlook.com/Hotmail の個人アカウントでは 2024-09-16 に基本認証が廃止されており、設定で元に戻すことはできません。")
	}
}

var stepTenantWide = [2]string{
	"To turn SMTP AUTH back on for the whole organization instead (the article's line; it opens SMTP AUTH for every mailbox without a setting of its own, and any posture check that relies on the organization's switch starts logging in): Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
	"代わりに組織全体で SMTP AUTH を再び有効にするには (記事の手順。個別の設定がないすべてのメールボックスで SMTP AUTH が有効になり、組織の設定に依存しているポスチャ チェックはログインできるようになります): Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
}

// tailorSMTPAuthTenant repairs the failing mailbox only: the article's
// fix, Set-TransportConfig -SmtpClientAuthenticationDisabled $False, turns
// SMTP AUTH on for every mailbox that follows the organization, and with it
// Basic SMTP wherever a policy allows it — a posture check that relies on
// the organization's switch would start logging in. With a mailbox to name,
// the fix is that mailbox's own exception and the article's line becomes a
// step; with none (a reference) the article's line stays.
func tailorSMTPAuthTenant(r *Remedy, l int, v Vars) {
	if v.Mailbox == "" {
		return
	}
	r.Fix = []string{"Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False"}
	r.Steps = slices.DeleteFunc(r.Steps, func(s string) bool {
		return strings.Contains(s, "Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False")
	})
	r.Steps = append(r.Steps, stepTenantWide[l])
}

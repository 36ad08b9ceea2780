package diagnose

import (
	"regexp"
	"strings"
	"time"
)

// Vars fill the placeholders of a remedy's PowerShell lines. An empty field
// leaves its placeholder ("<mailbox>") in place, so that nobody runs a line
// against the wrong object by accident.
type Vars struct {
	Mailbox string // <mailbox>
	User    string // <user>
	Policy  string // <policy>: the authentication policy's name
	AppID   string // <AppId>: the app registration's application (client) id
	// ObjectID is <ObjectId>: the object id of the app's enterprise
	// application (service principal) in Entra, not of the app registration.
	ObjectID string
	// ServicePrincipalID is <ServicePrincipalId>, the identity of the
	// service principal in Exchange; it defaults to ObjectID, which is what
	// New-ServicePrincipal registers it under.
	ServicePrincipalID string
	Tenant             string // <tenant>
	// Protocol ("imap", "pop", "smtp", or several joined with commas)
	// tailors lines and caveats to the protocols; empty gives the lines for
	// every protocol.
	Protocol string
}

// Cause catalog entry. PowerShell lines are the same in both languages.
type entry struct {
	title   [2]string // en, ja
	summary [2]string
	inspect []string
	// fix must be runnable verbatim (placeholders filled) by Exchange Online
	// PowerShell, Microsoft Graph PowerShell and the emulator's interpreter.
	fix     []string
	steps   [2][]string
	caveats [2][]string
	links   []string
	// tailor adjusts the remedy to the protocol (may be nil).
	tailor func(r *Remedy, lang int, protocol string)
	// tailorVars adjusts it to what is known of the failing check (may be
	// nil); it runs after tailor, before placeholders are filled.
	tailorVars func(r *Remedy, lang int, v Vars)
	// smtpTimeline appends the Basic SMTP AUTH timeline caveat (in the
	// tense of the day) where the remedy concerns SMTP.
	smtpTimeline bool
}

const (
	linkArticleSMTPAuth   = "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission"
	linkSMTPAuthDisabled  = "https://aka.ms/smtp_auth_disabled"
	linkSMTPAuthTLS       = "https://aka.ms/smtp_auth_tls"
	linkDisableBasic      = "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/disable-basic-authentication-in-exchange-online"
	linkDeprecationBasic  = "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-authentication-exchange-online"
	linkOAuthIMAPPOPSMTP  = "https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth"
	linkSecurityDefaults  = "https://learn.microsoft.com/entra/fundamentals/security-defaults"
	linkConditionalAccess = "https://learn.microsoft.com/entra/identity/conditional-access/overview"
	linkSignInLogs        = "https://learn.microsoft.com/entra/identity/monitoring-health/concept-sign-ins"
	linkErrorCodes        = "https://learn.microsoft.com/entra/identity-platform/reference-error-codes"
	linkSmartLockout      = "https://learn.microsoft.com/entra/identity/authentication/howto-password-smart-lockout"
	linkSetCasMailbox     = "https://learn.microsoft.com/powershell/module/exchange/set-casmailbox"
	linkSetTransport      = "https://learn.microsoft.com/powershell/module/exchange/set-transportconfig"
	linkSetAuthPolicy     = "https://learn.microsoft.com/powershell/module/exchange/set-authenticationpolicy"
	linkPOPIMAPEnable     = "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/pop3-and-imap4/enable-or-disable-pop3-or-imap4-access"
	linkSMTPLimits        = "https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits"
	linkSMTPBasicTimeline = "https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835"
)

// Caveats shared by several causes.
var (
	caveatImapPopRetired = [2]string{
		"Basic authentication for IMAP and POP is permanently retired in Exchange Online: no policy brings it back for a real tenant. The lasting fix is OAuth (SASL XOAUTH2).",
		"Exchange Online では IMAP と POP の基本認証は恒久的に廃止されており、実際のテナントではどのポリシーでも元に戻せません。恒久的な対策は OAuth (SASL XOAUTH2) への移行です。",
	}
	// The Basic SMTP AUTH timeline, before and after the default changed
	// (see smtpBasicCaveat).
	caveatSMTPBasicTimeline = [2]string{
		"Basic SMTP AUTH turns off by default for existing tenants at the end of December 2026; admins can turn it back on, and Microsoft will announce the final removal date in the second half of 2027. Plan the move to OAuth (XOAUTH2).",
		"既存テナントでは 2026 年 12 月末に SMTP AUTH の基本認証が既定で無効になります。管理者は再度有効にできますが、最終的な廃止日は 2027 年後半に発表される予定です。OAuth (XOAUTH2) への移行を計画してください。",
	}
	caveatSMTPBasicTimelinePast = [2]string{
		"Basic SMTP AUTH was turned off by default for existing tenants at the end of December 2026; admins can turn it back on, and Microsoft said it would announce the final removal date in the second half of 2027. Plan the move to OAuth (XOAUTH2).",
		"既存テナントでは 2026 年 12 月末に SMTP AUTH の基本認証が既定で無効になりました。管理者は再度有効にできますが、Microsoft は最終的な廃止日を 2027 年後半に発表するとしています。OAuth (XOAUTH2) への移行を計画してください。",
	}
	// oauthLeadStep and caveatPolicyOnlyWhereAllowed tailor the Basic
	// remedy to IMAP/POP, where no policy brings Basic back in Exchange
	// Online.
	// betterOAuthStep closes the article's steps; where oauthLeadStep
	// leads, it would say the same thing twice and is dropped.
	betterOAuthStep = [2]string{
		"Better: switch the application to OAuth (XOAUTH2) and keep Basic off.",
		"推奨: アプリケーションを OAuth (XOAUTH2) に切り替え、基本認証は無効のままにします。",
	}
	oauthLeadStep = [2]string{
		"Lasting fix: move the application to OAuth (SASL XOAUTH2). Register an app with IMAP.AccessAsApp / POP.AccessAsApp (or the delegated IMAP.AccessAsUser.All / POP.AccessAsUser.All) and admin consent, then New-ServicePrincipal and Add-MailboxPermission for it (exoprobe explain oauth_not_authorized).",
		"恒久的な対策: アプリケーションを OAuth (SASL XOAUTH2) に移行します。IMAP.AccessAsApp / POP.AccessAsApp (委任では IMAP.AccessAsUser.All / POP.AccessAsUser.All) のアクセス許可と管理者の同意を持つアプリを登録し、New-ServicePrincipal と Add-MailboxPermission を実行します (exoprobe explain oauth_not_authorized)。",
	}
	caveatPolicyOnlyWhereAllowed = [2]string{
		"The Set-AuthenticationPolicy line helps only where the tenant still allows Basic for IMAP/POP (not Exchange Online today, where it is retired): use it only there, and prefer OAuth everywhere.",
		"Set-AuthenticationPolicy の行が役立つのは、テナントで IMAP/POP の基本認証がまだ許可されている場合だけです (廃止済みの現在の Exchange Online は該当しません)。その場合に限って使い、どこでも OAuth を優先してください。",
	}
	caveatConnect = [2]string{
		"Run the Exchange lines in Exchange Online PowerShell (Connect-ExchangeOnline) as an Exchange administrator.",
		"Exchange の行は Exchange 管理者として Exchange Online PowerShell (Connect-ExchangeOnline) で実行してください。",
	}
)

const (
	en = 0
	ja = 1
)

// smtpBasicOff is when Basic SMTP AUTH went off by default for existing
// tenants: the end of December 2026 (exo-responses §4a).
var smtpBasicOff = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// now is the clock the date-aware caveats read; tests replace it.
var now = time.Now

// smtpBasicCaveat is the Basic SMTP AUTH timeline in the tense of today.
func smtpBasicCaveat(l int) string {
	if now().Before(smtpBasicOff) {
		return caveatSMTPBasicTimeline[l]
	}
	return caveatSMTPBasicTimelinePast[l]
}

var catalog = map[Cause]entry{
	CauseOK: {
		title:   [2]string{"Login works", "ログイン成功"},
		summary: [2]string{"The login and the first mailbox command succeeded. Nothing to do.", "ログインと最初のメールボックス コマンドが成功しました。対処は不要です。"},
	},
	CauseBasicAuthDisabled: {
		title: [2]string{"Basic authentication is disabled", "基本認証が無効"},
		summary: [2]string{
			"The server refuses password (Basic) logins for this protocol: an Exchange authentication policy blocks it, Microsoft has retired it, or the tenant's default turned it off. OAuth logins are not affected.",
			"サーバーはこのプロトコルでのパスワード (基本認証) ログインを拒否しています。Exchange の認証ポリシーによるブロック、Microsoft による廃止、またはテナントの既定値による無効化が原因です。OAuth のログインには影響しません。",
		},
		inspect: []string{
			"Get-User -Identity <user> | Select AuthenticationPolicy",
			"Get-OrganizationConfig | Select DefaultAuthenticationPolicy",
			"Get-AuthenticationPolicy -Identity <policy> | Select Name,AllowBasicAuthImap,AllowBasicAuthPop,AllowBasicAuthSmtp",
		},
		fix: []string{
			"Set-AuthenticationPolicy -Identity <policy> -AllowBasicAuthPop -AllowBasicAuthImap -AllowBasicAuthSmtp",
			"Set-User -Identity <user> -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
		},
		steps: [2][]string{
			{
				"Find the policy that applies to the user (the user's own, else the organization default) and allow Basic for the protocols you need.",
				"Without Set-User -STSRefreshTokensValidFrom a policy change reaches the user only when its token is refreshed (up to about a day).",
				betterOAuthStep[en],
			},
			{
				"ユーザーに適用されているポリシー (ユーザー個別のもの、なければ組織の既定) を確認し、必要なプロトコルの基本認証を許可します。",
				"Set-User -STSRefreshTokensValidFrom を実行しない場合、ポリシーの変更はトークンが更新されるまで (最大 1 日程度) ユーザーに反映されません。",
				betterOAuthStep[ja],
			},
		},
		caveats: [2][]string{
			{caveatConnect[en], "Re-enabling Basic authentication weakens the tenant's security: passwords can be sprayed and phished, and MFA does not protect them."},
			{caveatConnect[ja], "基本認証を再度有効にするとテナントのセキュリティが低下します。パスワードはスプレー攻撃やフィッシングの対象になり、MFA では保護されません。"},
		},
		links:  []string{linkDisableBasic, linkSetAuthPolicy, linkDeprecationBasic, linkOAuthIMAPPOPSMTP, linkSMTPBasicTimeline},
		tailor: tailorBasicAuthDisabled,
	},
	CauseBasicAuthRetired: {
		title: [2]string{"Basic authentication retired for this service", "このサービスでは基本認証が廃止済み"},
		summary: [2]string{
			"The server no longer supports Basic (password) authentication for SMTP client submission at all: Microsoft removed it for good, and no authentication policy or SMTP AUTH switch brings it back. The application must log in with OAuth (SASL XOAUTH2).",
			"サーバーは SMTP クライアント送信でパスワード (基本認証) によるログインを一切サポートしていません。Microsoft により完全に廃止されており、認証ポリシーや SMTP AUTH の設定では元に戻せません。アプリケーションは OAuth (SASL XOAUTH2) でログインする必要があります。",
		},
		inspect: []string{
			"Get-ServicePrincipal | Select AppId,ObjectId,DisplayName",
			"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
		},
		// The OAuth path: the app's service principal in Exchange and its
		// permission on the mailbox (the same lines as oauth_not_authorized).
		fix: []string{
			"New-ServicePrincipal -AppId <AppId> -ObjectId <ObjectId>",
			"Add-MailboxPermission -Identity <mailbox> -User <ServicePrincipalId> -AccessRights FullAccess",
		},
		steps: [2][]string{
			{
				"Register an app in Microsoft Entra with the Office 365 Exchange Online permission SMTP.SendAsApp (application) or SMTP.Send (delegated) and grant admin consent; then run the fix lines with the app's Application ID and its Enterprise application's Object ID.",
				"Switch the application to SASL XOAUTH2 with a token for https://outlook.office365.com/.default (application) or https://outlook.office.com/SMTP.Send (delegated); SMTP AUTH must stay enabled for the mailbox, since that switch applies to OAuth too.",
				"Check the result with exoprobe check --mechanisms xoauth2.",
			},
			{
				"Microsoft Entra でアプリを登録し、Office 365 Exchange Online のアクセス許可 SMTP.SendAsApp (アプリケーション) または SMTP.Send (委任) を追加して管理者の同意を与えます。その後、アプリのアプリケーション ID とエンタープライズ アプリケーションのオブジェクト ID で修正コマンドを実行します。",
				"アプリケーションを SASL XOAUTH2 に切り替え、https://outlook.office365.com/.default (アプリケーション) または https://outlook.office.com/SMTP.Send (委任) のトークンを使います。SMTP AUTH の設定は OAuth にも適用されるため、メールボックスで有効のままにしておく必要があります。",
				"exoprobe check --mechanisms xoauth2 で結果を確認します。",
			},
		},
		caveats: [2][]string{
			{caveatConnect[en], "Set-AuthenticationPolicy and Set-CasMailbox do not help here: these words mean the service itself no longer takes passwords, not a tenant setting."},
			{caveatConnect[ja], "Set-AuthenticationPolicy や Set-CasMailbox では解決しません。この応答はテナントの設定ではなく、サービス自体がパスワードを受け付けなくなったことを示しています。"},
		},
		links: []string{linkOAuthIMAPPOPSMTP, linkSMTPBasicTimeline, linkDeprecationBasic},
	},
	CauseSMTPAuthDisabledTenant: {
		title: [2]string{"SMTP AUTH is disabled for the organization", "組織全体で SMTP AUTH が無効"},
		summary: [2]string{
			"SMTP AUTH (client submission) is turned off for the whole organization. This switch blocks OAuth (XOAUTH2) as well as Basic.",
			"組織全体で SMTP AUTH (クライアント送信) が無効になっています。この設定は基本認証だけでなく OAuth (XOAUTH2) もブロックします。",
		},
		inspect: []string{
			"Get-TransportConfig | Select SmtpClientAuthenticationDisabled",
			"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
		},
		fix: []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $False"},
		steps: [2][]string{
			{
				"True at the organization means SMTP AUTH is off for every mailbox whose own value is blank.",
				"To keep it off for the organization and allow only this mailbox, run instead: Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False",
			},
			{
				"組織の値が True の場合、個別の値が空白のすべてのメールボックスで SMTP AUTH が無効です。",
				"組織では無効のままこのメールボックスだけ許可するには、代わりに次を実行します: Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False",
			},
		},
		caveats: [2][]string{
			{caveatConnect[en], "Turning SMTP AUTH on for everyone lets any mailbox submit mail with a password; many organizations prefer per-mailbox exceptions."},
			{caveatConnect[ja], "全体で SMTP AUTH を有効にすると、どのメールボックスもパスワードでメールを送信できるようになります。メールボックス単位の例外を好む組織も多くあります。"},
		},
		smtpTimeline: true,
		links:        []string{linkArticleSMTPAuth, linkSMTPAuthDisabled, linkSetTransport},
		tailorVars:   tailorSMTPAuthTenant,
	},
	CauseSMTPAuthDisabledMbx: {
		title: [2]string{"SMTP AUTH is disabled for the mailbox", "メールボックスで SMTP AUTH が無効"},
		summary: [2]string{
			"SMTP AUTH (client submission) is turned off on this mailbox itself (its own SmtpClientAuthenticationDisabled is True). A mailbox that only inherits the organization's off switch gets the \"disabled for the Tenant\" reply instead. OAuth (XOAUTH2) is blocked too.",
			"このメールボックス自体で SMTP AUTH (クライアント送信) が無効になっています (メールボックスの SmtpClientAuthenticationDisabled が True)。組織の無効設定を継承しているだけのメールボックスには「disabled for the Tenant」の応答が返ります。OAuth (XOAUTH2) もブロックされます。",
		},
		inspect: []string{
			"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
			"Get-TransportConfig | Select SmtpClientAuthenticationDisabled",
		},
		fix: []string{"Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False"},
		steps: [2][]string{
			{"The mailbox value wins over the organization's: True = off, False = on, blank = follow Get-TransportConfig."},
			{"メールボックスの値は組織の値より優先されます: True = 無効、False = 有効、空白 = Get-TransportConfig に従う。"},
		},
		caveats: [2][]string{
			{caveatConnect[en]},
			{caveatConnect[ja]},
		},
		smtpTimeline: true,
		links:        []string{linkArticleSMTPAuth, linkSMTPAuthDisabled, linkSetCasMailbox},
	},
	CauseSecurityDefaults: {
		title: [2]string{"Blocked by Microsoft Entra security defaults", "Microsoft Entra のセキュリティの既定値によるブロック"},
		summary: [2]string{
			"Security defaults are on in Microsoft Entra; they block legacy (Basic) authentication for every protocol and require MFA registration.",
			"Microsoft Entra でセキュリティの既定値が有効になっています。すべてのプロトコルでレガシー (基本) 認証をブロックし、MFA の登録を要求します。",
		},
		inspect: []string{"Get-MgPolicyIdentitySecurityDefaultEnforcementPolicy | Select IsEnabled"},
		fix:     []string{"Update-MgPolicyIdentitySecurityDefaultEnforcementPolicy -IsEnabled:$false"},
		steps: [2][]string{
			{
				"Run the Graph lines after Connect-MgGraph -Scopes Policy.Read.All,Policy.ReadWrite.ConditionalAccess (Security Administrator or Conditional Access Administrator).",
				"Or in the Microsoft Entra admin center: Identity > Overview > Properties > Manage security defaults > Security defaults: Disabled.",
				"Better: leave security defaults on and move the application to OAuth (XOAUTH2); or replace them with Conditional Access policies that exclude only this account.",
			},
			{
				"Graph の行は Connect-MgGraph -Scopes Policy.Read.All,Policy.ReadWrite.ConditionalAccess の後に実行します (セキュリティ管理者または条件付きアクセス管理者)。",
				"または Microsoft Entra 管理センター: [ID] > [概要] > [プロパティ] > [セキュリティの既定値の管理] > [セキュリティの既定値]: [無効]。",
				"推奨: セキュリティの既定値は有効のままアプリケーションを OAuth (XOAUTH2) に移行するか、このアカウントだけを除外する条件付きアクセス ポリシーに置き換えます。",
			},
		},
		caveats: [2][]string{
			{"Turning security defaults off is a posture change for the whole tenant, not a fix for one mailbox: Basic (legacy) authentication is then refused only where authentication policies refuse it, so a check that relies on security defaults to keep Basic off (expect: fail) may start logging in. It also lowers MFA protection; do it only with Conditional Access policies in their place.", "Basic must also be allowed by the Exchange authentication policy, and for IMAP/POP it is retired in Exchange Online whatever Entra says."},
			{"セキュリティの既定値の無効化は、1 つのメールボックスの修正ではなくテナント全体のセキュリティ ポスチャの変更です。基本 (レガシー) 認証は認証ポリシーが拒否する場合にしか拒否されなくなり、セキュリティの既定値によって基本認証の無効を保っているチェック (expect: fail) はログインできるようになる可能性があります。MFA の保護も低下します。代わりの条件付きアクセス ポリシーを用意した場合にのみ行ってください。", "基本認証は Exchange の認証ポリシーでも許可されている必要があります。また IMAP/POP の基本認証は Entra の設定にかかわらず Exchange Online では廃止されています。"},
		},
		smtpTimeline: true,
		links:        []string{linkSecurityDefaults, linkConditionalAccess, linkOAuthIMAPPOPSMTP},
	},
	CauseConditionalAccess: {
		title: [2]string{"Blocked by Conditional Access", "条件付きアクセスによるブロック"},
		summary: [2]string{
			"A Conditional Access policy (or an MFA requirement it imposes) refuses this sign-in: a password-only login cannot satisfy it.",
			"条件付きアクセス ポリシー (またはそれが課す MFA の要求) がこのサインインを拒否しています。パスワードだけのログインでは満たせません。",
		},
		inspect: []string{
			"Get-MgIdentityConditionalAccessPolicy | Select DisplayName,State",
			"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled | Select SmtpClientAuthenticationDisabled",
		},
		steps: [2][]string{
			{
				"Open the Microsoft Entra sign-in logs for <user>, find the failed sign-in and its Conditional Access tab: it names the policy that applied.",
				"Move the application to OAuth (XOAUTH2) with a flow the policy allows, or exclude this account (or the application's network location) from that policy.",
			},
			{
				"Microsoft Entra のサインイン ログで <user> の失敗したサインインを開き、[条件付きアクセス] タブで適用されたポリシーを確認します。",
				"アプリケーションをポリシーが許可するフローの OAuth (XOAUTH2) に移行するか、このアカウント (またはアプリケーションのネットワークの場所) をそのポリシーから除外します。",
			},
		},
		caveats: [2][]string{
			{"Exchange's \"did not meet the criteria\" sentence is documented by Microsoft as Conditional Access / MFA; some third-party guides blame the mailbox's SMTP AUTH switch, so the inspect lines check that too.", "Excluding an account from Conditional Access lowers its protection; prefer OAuth."},
			{"Exchange の「did not meet the criteria」の文は Microsoft により条件付きアクセス / MFA と説明されています。メールボックスの SMTP AUTH 設定が原因とするサードパーティの情報もあるため、確認コマンドでそちらも調べます。", "アカウントを条件付きアクセスから除外すると保護が弱まります。OAuth を優先してください。"},
		},
		links: []string{linkConditionalAccess, linkSignInLogs, linkOAuthIMAPPOPSMTP},
	},
	CauseMFARequired: {
		title: [2]string{"Multifactor authentication required", "多要素認証が必要"},
		summary: [2]string{
			"The account must use (or register) multifactor authentication, which a password login cannot do.",
			"このアカウントは多要素認証の使用 (または登録) が必要ですが、パスワード ログインではそれができません。",
		},
		inspect: []string{"Get-MgIdentityConditionalAccessPolicy | Select DisplayName,State"},
		steps: [2][]string{
			{
				"Use OAuth instead of a password: an application token (client credentials) or a delegated refresh token obtained once interactively with MFA.",
				"If the account must keep a password login, exclude it from the MFA requirement (Conditional Access or per-user MFA) and protect it otherwise (named locations, a strong unique password).",
			},
			{
				"パスワードの代わりに OAuth を使います。アプリケーション トークン (クライアント資格情報) か、MFA で一度だけ対話的に取得した委任リフレッシュ トークンです。",
				"どうしてもパスワード ログインが必要な場合は、このアカウントを MFA の要求 (条件付きアクセスまたはユーザーごとの MFA) から除外し、別の方法 (ネームド ロケーション、強力な固有のパスワード) で保護します。",
			},
		},
		caveats: [2][]string{
			{"A ROPC (password) token request is a real sign-in: each failure counts toward smart lockout."},
			{"ROPC (パスワード) によるトークン要求は実際のサインインです。失敗するたびにスマート ロックアウトの回数に数えられます。"},
		},
		links: []string{linkConditionalAccess, linkErrorCodes, linkOAuthIMAPPOPSMTP},
	},
	CauseBadCredentials: {
		title: [2]string{"Wrong user name or password", "ユーザー名またはパスワードの誤り"},
		summary: [2]string{
			"The server refused the user name or password.",
			"サーバーはユーザー名またはパスワードを拒否しました。",
		},
		inspect: []string{"Get-User -Identity <user> | Select UserPrincipalName,AccountDisabled"},
		steps: [2][]string{
			{
				"Check the user name is the full address (<user>) and the password is current; with MFA, an app password only works where the tenant allows them.",
				"Reset the password in the Microsoft 365 admin center if needed, then update the application.",
			},
			{
				"ユーザー名が完全なアドレス (<user>) で、パスワードが最新であることを確認します。MFA を使う場合、アプリ パスワードはテナントが許可している場合にのみ使えます。",
				"必要に応じて Microsoft 365 管理センターでパスワードをリセットし、アプリケーションの設定を更新します。",
			},
		},
		caveats: [2][]string{
			{"Every failed password login counts toward Entra smart lockout: stop the failing application before testing again."},
			{"パスワード ログインの失敗はすべて Entra のスマート ロックアウトの回数に数えられます。再テストの前に失敗しているアプリケーションを停止してください。"},
		},
		links: []string{linkSmartLockout, linkErrorCodes},
	},
	CauseAccountLocked: {
		title: [2]string{"Account locked", "アカウントのロック"},
		summary: [2]string{
			"The account is locked, usually by Entra smart lockout after repeated bad passwords (AADSTS50053 can also mean sign-ins from this IP address are blocked).",
			"アカウントがロックされています。通常は誤ったパスワードの繰り返しによる Entra のスマート ロックアウトです (AADSTS50053 はこの IP アドレスからのサインインのブロックを意味することもあります)。",
		},
		steps: [2][]string{
			{
				"Find and stop whatever keeps sending the old password (Entra sign-in logs for <user> show the source IP and application).",
				"Wait for the lockout to expire (it grows with each lockout) or reset the password.",
			},
			{
				"古いパスワードを送り続けているものを特定して停止します (<user> の Entra サインイン ログに送信元 IP とアプリケーションが表示されます)。",
				"ロックアウトの期限切れを待つ (ロックアウトのたびに長くなります) か、パスワードをリセットします。",
			},
		},
		caveats: [2][]string{
			{"Probing with a wrong password keeps the account locked: exoprobe's lockout guard stops Basic probes after refusals."},
			{"誤ったパスワードで監視を続けるとロックが続きます。exoprobe のロックアウト ガードは拒否の後に基本認証の監視を止めます。"},
		},
		links: []string{linkSmartLockout, linkSignInLogs},
	},
	CauseAccountDisabled: {
		title: [2]string{"Account disabled", "アカウントの無効化"},
		summary: [2]string{
			"The account is disabled (sign-in blocked) or has another account problem such as an expired password.",
			"アカウントが無効化されている (サインインがブロックされている) か、パスワードの期限切れなど別のアカウントの問題があります。",
		},
		inspect: []string{"Get-User -Identity <user> | Select UserPrincipalName,AccountDisabled"},
		steps: [2][]string{
			{
				"Unblock sign-in in the Microsoft 365 admin center (Users > Active users > <user> > Unblock sign-in), or with Microsoft Graph PowerShell: Update-MgUser -UserId <user> -AccountEnabled:$true",
				"If the account is enabled, check whether its password has expired.",
			},
			{
				"Microsoft 365 管理センター ([ユーザー] > [アクティブなユーザー] > <user> > [サインインのブロックを解除]) で、または Microsoft Graph PowerShell で解除します: Update-MgUser -UserId <user> -AccountEnabled:$true",
				"アカウントが有効な場合は、パスワードの有効期限が切れていないか確認します。",
			},
		},
		caveats: [2][]string{
			{"A disabled account is often disabled on purpose (a leaver, a compromise): ask before enabling it."},
			{"アカウントは意図的に無効化されていることがよくあります (退職者、侵害など)。有効にする前に確認してください。"},
		},
		links: []string{linkErrorCodes},
	},
	CauseProtocolDisabled: {
		title: [2]string{"Protocol disabled for the mailbox", "メールボックスでプロトコルが無効"},
		summary: [2]string{
			"IMAP or POP access is turned off for this mailbox, so logins get in but the mailbox cannot be used.",
			"このメールボックスで IMAP または POP のアクセスが無効になっているため、ログインはできてもメールボックスを使えません。",
		},
		inspect: []string{"Get-EXOCasMailbox <mailbox> -Properties ImapEnabled,PopEnabled | Select ImapEnabled,PopEnabled"},
		caveats: [2][]string{
			{caveatConnect[en], "The same server words can mean the token's user has no permission on the mailbox or that the connection was throttled: if enabling the protocol does not help, check those."},
			{caveatConnect[ja], "同じ応答は、トークンのユーザーにメールボックスのアクセス許可がない場合や、接続が調整された場合にも返されます。プロトコルを有効にしても解決しない場合はそれらを確認してください。"},
		},
		links: []string{linkPOPIMAPEnable, linkSetCasMailbox},
		tailor: func(r *Remedy, l int, p string) {
			r.Fix = nil
			if p == "" || strings.Contains(p, "imap") {
				r.Fix = append(r.Fix, "Set-CasMailbox <mailbox> -ImapEnabled $true")
			}
			if p == "" || strings.Contains(p, "pop") {
				r.Fix = append(r.Fix, "Set-CasMailbox <mailbox> -PopEnabled $true")
			}
			if len(r.Fix) == 0 { // smtp: the fix is not a protocol switch
				r.Fix = []string{"Set-CasMailbox <mailbox> -ImapEnabled $true", "Set-CasMailbox <mailbox> -PopEnabled $true"}
			}
		},
	},
	CauseOAuthTokenInvalid: {
		title: [2]string{"OAuth access token refused", "OAuth アクセス トークンの拒否"},
		summary: [2]string{
			"The server refused the access token: expired, issued for the wrong resource (a Microsoft Graph token) or scope, or for another user than the XOAUTH2 user=.",
			"サーバーはアクセス トークンを拒否しました。期限切れ、誤ったリソース (Microsoft Graph 用トークン) やスコープ向けの発行、または XOAUTH2 の user= と異なるユーザーへの発行が原因です。",
		},
		steps: [2][]string{
			{
				"Request the token for Exchange, one resource per token: application (client credentials) https://outlook.office365.com/.default; delegated https://outlook.office.com/IMAP.AccessAsUser.All, https://outlook.office.com/POP.AccessAsUser.All or https://outlook.office.com/SMTP.Send. Never mix Microsoft Graph scopes in.",
				"Make XOAUTH2's user= the mailbox address, and for delegated tokens the token's own user (or a mailbox that user has access to).",
				"Get a new token before the old one expires; exoprobe check --transcript shows the claims it decoded.",
			},
			{
				"トークンは Exchange 用に、1 トークンにつき 1 リソースで要求します。アプリケーション (クライアント資格情報): https://outlook.office365.com/.default、委任: https://outlook.office.com/IMAP.AccessAsUser.All、https://outlook.office.com/POP.AccessAsUser.All、https://outlook.office.com/SMTP.Send。Microsoft Graph のスコープを混ぜないでください。",
				"XOAUTH2 の user= はメールボックスのアドレスにし、委任トークンではトークン自身のユーザー (またはそのユーザーがアクセスできるメールボックス) にします。",
				"期限が切れる前に新しいトークンを取得します。exoprobe check --transcript でデコードしたクレームを確認できます。",
			},
		},
		links: []string{linkOAuthIMAPPOPSMTP},
	},
	CauseOAuthNotAuthorized: {
		title: [2]string{"OAuth application not authorized in Exchange", "OAuth アプリケーションが Exchange で未承認"},
		summary: [2]string{
			"The token is for Exchange but the application (or user) may not use this mailbox: the app lacks the API permission or admin consent, its service principal is not registered in Exchange, or it has no permission on the mailbox.",
			"トークンは Exchange 用ですが、アプリケーション (またはユーザー) はこのメールボックスを使えません。API のアクセス許可か管理者の同意がない、サービス プリンシパルが Exchange に登録されていない、またはメールボックスへのアクセス許可がない状態です。",
		},
		inspect: []string{
			"Get-ServicePrincipal | Select AppId,ObjectId,DisplayName",
			"Get-MailboxPermission -Identity <mailbox> | Select User,AccessRights",
		},
		fix: []string{
			"New-ServicePrincipal -AppId <AppId> -ObjectId <ObjectId>",
			"Add-MailboxPermission -Identity <mailbox> -User <ServicePrincipalId> -AccessRights FullAccess",
		},
		steps: [2][]string{
			{
				"In Microsoft Entra: App registrations > the app > API permissions > Add a permission > APIs my organization uses > Office 365 Exchange Online > Application permissions: IMAP.AccessAsApp, POP.AccessAsApp and/or SMTP.SendAsApp (delegated apps: IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) > Grant admin consent.",
				"<ObjectId> is the Object ID of the app's Enterprise application (Enterprise applications > the app > Overview), not the app registration's: the wrong one is the classic mistake.",
				"Skip New-ServicePrincipal if Get-ServicePrincipal already lists the app.",
			},
			{
				"Microsoft Entra の [アプリの登録] > 対象のアプリ > [API のアクセス許可] > [アクセス許可の追加] > [所属する組織で使用している API] > [Office 365 Exchange Online] > [アプリケーションの許可]: IMAP.AccessAsApp、POP.AccessAsApp、SMTP.SendAsApp (委任アプリでは IMAP.AccessAsUser.All、POP.AccessAsUser.All、SMTP.Send) > [管理者の同意を与えます]。",
				"<ObjectId> はアプリの [エンタープライズ アプリケーション] ([エンタープライズ アプリケーション] > 対象のアプリ > [概要]) のオブジェクト ID で、アプリの登録のものではありません。取り違えはよくある誤りです。",
				"Get-ServicePrincipal にアプリが表示されている場合、New-ServicePrincipal は不要です。",
			},
		},
		caveats: [2][]string{
			{caveatConnect[en], "FullAccess lets the application read the whole mailbox; grant it only on the mailboxes the application needs."},
			{caveatConnect[ja], "FullAccess はアプリケーションにメールボックス全体の読み取りを許可します。アプリケーションが必要とするメールボックスにのみ付与してください。"},
		},
		links: []string{linkOAuthIMAPPOPSMTP, linkErrorCodes},
	},
	CauseTokenRequestFailed: {
		title: [2]string{"Token request failed", "トークン要求の失敗"},
		summary: [2]string{
			"The token endpoint refused to issue an access token; the AADSTS code in the evidence says why.",
			"トークン エンドポイントがアクセス トークンの発行を拒否しました。理由は根拠欄の AADSTS コードが示しています。",
		},
		steps: [2][]string{
			{
				"Client credentials: check the tenant, the client id and the secret (its Value, not its Secret ID) or certificate, and their expiry; request scope https://outlook.office365.com/.default.",
				"Refresh token: an expired or revoked refresh token (AADSTS700082, 50173) needs one new interactive sign-in.",
				"Look the code up in Microsoft's AADSTS reference.",
			},
			{
				"クライアント資格情報: テナント、クライアント ID、シークレット (シークレット ID ではなく値) または証明書と、その有効期限を確認し、スコープ https://outlook.office365.com/.default を要求します。",
				"リフレッシュ トークン: 期限切れまたは取り消されたリフレッシュ トークン (AADSTS700082、50173) には、対話的なサインインが一度必要です。",
				"コードを Microsoft の AADSTS リファレンスで調べてください。",
			},
		},
		links: []string{linkErrorCodes, linkOAuthIMAPPOPSMTP},
	},
	CauseTLSError: {
		title: [2]string{"TLS problem", "TLS の問題"},
		summary: [2]string{
			"The secure connection failed or was not used: handshake or certificate error, TLS older than 1.2, or no STARTTLS before login.",
			"安全な接続に失敗したか使われていません。ハンドシェイクや証明書のエラー、TLS 1.2 未満、またはログイン前の STARTTLS がありません。",
		},
		steps: [2][]string{
			{
				"Use TLS 1.2 or later; SMTP submission is STARTTLS on port 587 (smtp.office365.com), IMAP 993 and POP 995 are implicit TLS.",
				"Check the client trusts the server's certificate chain and that no proxy intercepts TLS.",
			},
			{
				"TLS 1.2 以降を使います。SMTP 送信はポート 587 の STARTTLS (smtp.office365.com)、IMAP 993 と POP 995 は暗黙的 TLS です。",
				"クライアントがサーバーの証明書チェーンを信頼していること、TLS を傍受するプロキシがないことを確認します。",
			},
		},
		caveats: [2][]string{
			{"Clients stuck on TLS 1.0/1.1 for SMTP can use smtp-legacy.office365.com after Set-TransportConfig -AllowLegacyTLSClients $true, a stopgap that weakens security."},
			{"SMTP で TLS 1.0/1.1 しか使えないクライアントは、Set-TransportConfig -AllowLegacyTLSClients $true の後に smtp-legacy.office365.com を使えますが、セキュリティを下げる一時しのぎです。"},
		},
		links: []string{linkSMTPAuthTLS, linkArticleSMTPAuth},
	},
	CauseNetworkError: {
		title: [2]string{"Network problem", "ネットワークの問題"},
		summary: [2]string{
			"The server could not be reached: name resolution failed, or the connection was refused, unreachable or reset.",
			"サーバーに到達できません。名前解決の失敗、または接続の拒否、到達不能、リセットです。",
		},
		steps: [2][]string{
			{"Check DNS, outbound firewall rules for ports 587, 993 and 995, and any proxy between the application and the server."},
			{"DNS、ポート 587、993、995 の送信方向のファイアウォール規則、アプリケーションとサーバーの間のプロキシを確認します。"},
		},
	},
	CauseTimeout: {
		title: [2]string{"Timeout", "タイムアウト"},
		summary: [2]string{
			"The server did not answer before the deadline.",
			"期限までにサーバーから応答がありませんでした。",
		},
		steps: [2][]string{
			{"Exchange can take 5 to 18 seconds to refuse a login: use a timeout of at least 30 s, then check the network path if it persists."},
			{"Exchange はログインの拒否に 5～18 秒かかることがあります。タイムアウトを 30 秒以上にし、それでも続く場合はネットワーク経路を確認します。"},
		},
	},
	CauseThrottled: {
		title: [2]string{"Throttled or temporarily unavailable", "調整 (スロットリング) または一時的な利用不可"},
		summary: [2]string{
			"The service is limiting this mailbox or application, or is temporarily unavailable.",
			"サービスがこのメールボックスやアプリケーションを制限しているか、一時的に利用できません。",
		},
		steps: [2][]string{
			{"Back off and retry later (honour a \"Suggested Backoff Time\"); reuse connections instead of opening many; cache access tokens instead of requesting one per login; stay under 3 concurrent SMTP submissions per mailbox."},
			{"時間をおいて再試行します (「Suggested Backoff Time」に従います)。接続を多数開かずに再利用し、ログインごとに要求せずアクセス トークンをキャッシュし、SMTP の同時送信はメールボックスあたり 3 未満にします。"},
		},
		links: []string{linkSMTPLimits},
	},
	CauseAuthMechanismUnsupported: {
		title: [2]string{"Authentication mechanism not offered", "認証メカニズムが提供されていない"},
		summary: [2]string{
			"The server does not accept the SASL mechanism the client sent: smtp.office365.com offers AUTH LOGIN and XOAUTH2 but not AUTH PLAIN, and the MX host (*.mail.protection.outlook.com) takes no AUTH at all.",
			"サーバーはクライアントが送った SASL メカニズムを受け付けません。smtp.office365.com は AUTH LOGIN と XOAUTH2 を提供しますが AUTH PLAIN はなく、MX ホスト (*.mail.protection.outlook.com) は AUTH を一切受け付けません。",
		},
		steps: [2][]string{
			{"Use a mechanism the server lists after STARTTLS (EHLO's AUTH line), and submit to smtp.office365.com port 587, not the MX host."},
			{"STARTTLS 後に EHLO の AUTH 行でサーバーが提示するメカニズムを使い、MX ホストではなく smtp.office365.com のポート 587 に送信します。"},
		},
		links: []string{linkArticleSMTPAuth},
	},
	CauseUnknown: {
		title: [2]string{"Cause not determined", "原因を特定できない"},
		summary: [2]string{
			"exoprobe cannot tell the cause from what the server said; the evidence lists what it saw and what the words can mean.",
			"exoprobe はサーバーの応答から原因を判別できません。根拠欄に観測内容と応答が意味し得ることを示します。",
		},
		inspect: []string{
			"Get-TransportConfig | Select SmtpClientAuthenticationDisabled",
			"Get-EXOCasMailbox <mailbox> -Properties SmtpClientAuthenticationDisabled,ImapEnabled,PopEnabled | Select SmtpClientAuthenticationDisabled,ImapEnabled,PopEnabled",
			"Get-User -Identity <user> | Select AuthenticationPolicy",
		},
		steps: [2][]string{
			{
				"Check the same mailbox with both mechanisms (Basic and XOAUTH2) and on the other protocols: the comparison often decides.",
				"Read the Microsoft Entra sign-in logs for <user>: the failure reason is there.",
				"Run exoprobe check --transcript to see the whole (redacted) conversation.",
			},
			{
				"同じメールボックスを両方の方式 (基本認証と XOAUTH2) と他のプロトコルでチェックします。比較で判別できることがよくあります。",
				"<user> の Microsoft Entra サインイン ログを確認します。失敗の理由が記録されています。",
				"exoprobe check --transcript で会話全体 (秘密情報は伏せ字) を確認します。",
			},
		},
		links: []string{linkSignInLogs},
	},
}

// order is the catalog's stable display order.
var order = []Cause{
	CauseOK,
	CauseBasicAuthDisabled,
	CauseBasicAuthRetired,
	CauseSMTPAuthDisabledTenant,
	CauseSMTPAuthDisabledMbx,
	CauseSecurityDefaults,
	CauseConditionalAccess,
	CauseMFARequired,
	CauseBadCredentials,
	CauseAccountLocked,
	CauseAccountDisabled,
	CauseProtocolDisabled,
	CauseOAuthTokenInvalid,
	CauseOAuthNotAuthorized,
	CauseTokenRequestFailed,
	CauseTLSError,
	CauseNetworkError,
	CauseTimeout,
	CauseThrottled,
	CauseAuthMechanismUnsupported,
	CauseSecretUnreadable,
	CauseTLSModeMismatch,
	CauseTokenEndpointUnreachable,
	CauseLoginDisabled,
	CauseAppPasswordRequired,
	CauseUnknown,
}

// Causes lists the catalog in a stable order.
func Causes() []Cause { return append([]Cause(nil), order...) }

// Generic reports whether a cause can be named for any IMAP/POP/SMTP server;
// the others name Exchange Online or Microsoft Entra settings and must never
// be reported against another server (DESIGN principle 4).
func Generic(c Cause) bool {
	switch c {
	case CauseOK, CauseBadCredentials, CauseOAuthTokenInvalid, CauseTokenRequestFailed, CauseTLSError,
		CauseNetworkError, CauseTimeout, CauseThrottled, CauseAuthMechanismUnsupported, CauseUnknown,
		CauseSecretUnreadable, CauseTLSModeMismatch, CauseTokenEndpointUnreachable, CauseLoginDisabled, CauseAppPasswordRequired,
		CauseProtocolError, CauseConfigInvalid:
		return true
	}
	return false
}

func langIndex(lang string) int {
	if strings.HasPrefix(strings.ToLower(lang), "ja") {
		return ja
	}
	return en
}

// Title is the cause's short human name.
func Title(c Cause, lang string) string {
	e, ok := catalog[c]
	if !ok {
		return string(c)
	}
	return e.title[langIndex(lang)]
}

// RemedyFor returns the remedy for a cause in "en" or "ja" (anything else is
// English), with placeholders filled from vars. Slices are never nil, so the
// JSON form always has arrays.
func RemedyFor(c Cause, lang string, vars Vars) Remedy {
	e, ok := catalog[c]
	if !ok {
		e = catalog[CauseUnknown]
	}
	l := langIndex(lang)
	r := Remedy{
		Summary: e.summary[l],
		Inspect: slicesClone(e.inspect),
		Fix:     slicesClone(e.fix),
		Caveats: slicesClone(e.caveats[l]),
		Links:   slicesClone(e.links),
		Steps:   slicesClone(e.steps[l]),
	}
	p := strings.ToLower(vars.Protocol)
	if e.tailor != nil {
		e.tailor(&r, l, p)
	}
	if e.tailorVars != nil {
		e.tailorVars(&r, l, vars)
	}
	if e.smtpTimeline && (p == "" || strings.Contains(p, "smtp")) {
		r.Caveats = append(r.Caveats, smtpBasicCaveat(l))
	}
	for _, s := range []*[]string{&r.Inspect, &r.Fix, &r.Steps} {
		for i := range *s {
			(*s)[i] = fill((*s)[i], vars)
		}
	}
	for _, f := range r.Fix {
		if strings.Contains(f, "<policy>") {
			// No protocol reveals the policy's name: say how to give it.
			r.Steps = append(r.Steps, stepPolicyName[l])
			break
		}
	}
	return r
}

var stepPolicyName = [2]string{
	"<policy> is the name the first two inspect lines print (the user's policy, else the organization's default); give it to exoprobe check --auth-policy NAME (config: auth_policy:) and the fix line comes ready to run.",
	"<policy> は最初の 2 つの確認コマンドが表示する名前 (ユーザーのポリシー、なければ組織の既定) です。exoprobe check --auth-policy NAME (設定ファイルでは auth_policy:) で指定すると、修正コマンドがそのまま実行できる形で表示されます。",
}

func slicesClone(s []string) []string {
	out := make([]string, len(s))
	copy(out, s)
	return out
}

// Explain returns a cause's title and a plain-text explanation (summary,
// steps, caveats) in the language; ok is false for an unknown cause id.
func Explain(c Cause, lang string) (title, text string, ok bool) {
	e, found := catalog[c]
	if !found {
		return "", "", false
	}
	l := langIndex(lang)
	var b strings.Builder
	b.WriteString(e.summary[l])
	for _, s := range e.steps[l] {
		b.WriteString("\n- " + s)
	}
	return e.title[l], b.String(), true
}

var safeArg = regexp.MustCompile(`^[A-Za-z0-9@._+\-]+$`)

// psArg quotes a value for a PowerShell command line when it needs it; a
// single-quoted string takes no expansion, so "$" in a name stays literal.
func psArg(v string) string {
	if safeArg.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func fill(line string, v Vars) string {
	sp := v.ServicePrincipalID
	if sp == "" {
		sp = v.ObjectID
	}
	pairs := []struct{ ph, val string }{
		{"<mailbox>", v.Mailbox}, {"<user>", v.User}, {"<policy>", v.Policy},
		{"<AppId>", v.AppID}, {"<ObjectId>", v.ObjectID}, {"<ServicePrincipalId>", sp},
		{"<tenant>", v.Tenant},
	}
	for _, p := range pairs {
		if p.val != "" && strings.Contains(line, p.ph) {
			line = strings.ReplaceAll(line, p.ph, psArg(p.val))
		}
	}
	return line
}

package diagnose

import (
	"regexp"
	"strings"
)

// generic says how a rule's finding is refined by comparing attempts: the
// server's words alone do not decide.
type generic int

const (
	decided generic = iota
	// exoBasic: Exchange's generic Basic refusal (I2, I3, P3).
	exoBasic
	// exoSMTP573: "535 5.7.3 Authentication unsuccessful" (S15 XOAUTH2,
	// S16 older Basic).
	exoSMTP573
	// exoOAuth: Exchange's generic SASL/XOAUTH2 refusal (I5, P6).
	exoOAuth
	// exoNotConnected: "BAD User is authenticated but not connected." (I6).
	exoNotConnected
	// foreignAuth: another server's plain authentication failure (Dovecot
	// and the like).
	foreignAuth
	// exoCriteria: "did not meet the criteria" (S11), Conditional Access or
	// MFA; a password token request can tell which.
	exoCriteria
)

// rule is one recognisable server text.
type rule struct {
	rows  string // exo-responses.md row ids, for evidence and tests
	match func(low string) bool
	cause Cause
	conf  Confidence
	gen   generic
	// en/ja: what the words mean, for the evidence.
	en, ja string
	// client marks a client library's own words (no server spoke).
	client bool
}

func has(phrases ...string) func(string) bool {
	return func(low string) bool {
		for _, p := range phrases {
			if strings.Contains(low, p) {
				return true
			}
		}
		return false
	}
}

func re(expr string) func(string) bool {
	r := regexp.MustCompile(expr)
	return r.MatchString
}

// rules are tried in order on the lower-cased, de-noised reply; the first
// match wins, so specific sentences come before generic ones: Exchange's
// words, then standard and other servers' words and clients' own words
// (words.go), then any server's plain authentication failure.
var rules = concatRules(exchangeRules, standardRules, clientRules, []rule{foreignAuthRule})

func concatRules(sets ...[]rule) []rule {
	var out []rule
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

// exchangeRules are Exchange Online's replies (exo-responses.md).
var exchangeRules = []rule{
	// Success texts, for pasted replies.
	{rows: "S2", match: re(`^235\b`), cause: CauseOK, conf: Definitive,
		en: "the server accepted the authentication", ja: "サーバーは認証を受け付けました"},
	{rows: "I1 I4", match: re(`^ok (login|authenticate) completed`), cause: CauseOK, conf: Definitive,
		en: "the server accepted the authentication", ja: "サーバーは認証を受け付けました"},
	{rows: "P2 P5", match: re(`^\+ok user successfully (logged on|authenticated)`), cause: CauseOK, conf: Definitive,
		en: "the server accepted the authentication", ja: "サーバーは認証を受け付けました"},

	// The 5.7.139 sentences (§5b.1): the sentence decides, not the code.
	{rows: "S4 S5", match: has("smtpclientauthentication is disabled for the tenant"), cause: CauseSMTPAuthDisabledTenant, conf: Definitive,
		en: "Exchange says SMTP AUTH is disabled for the whole organization (Set-TransportConfig -SmtpClientAuthenticationDisabled); this blocks XOAUTH2 too",
		ja: "Exchange は組織全体で SMTP AUTH が無効だと応答しています (Set-TransportConfig -SmtpClientAuthenticationDisabled)。この設定は XOAUTH2 もブロックします"},
	{rows: "S6 S7", match: has("smtpclientauthentication is disabled for the mailbox"), cause: CauseSMTPAuthDisabledMbx, conf: Definitive,
		en: "Exchange says SMTP AUTH is disabled for this mailbox (Set-CasMailbox -SmtpClientAuthenticationDisabled); this blocks XOAUTH2 too",
		ja: "Exchange はこのメールボックスで SMTP AUTH が無効だと応答しています (Set-CasMailbox -SmtpClientAuthenticationDisabled)。この設定は XOAUTH2 もブロックします"},
	{rows: "S8", match: has("security defaults policy"), cause: CauseSecurityDefaults, conf: Definitive,
		en: "Exchange says the sign-in is blocked by Microsoft Entra security defaults, which block legacy (Basic) authentication",
		ja: "Exchange は Microsoft Entra のセキュリティの既定値によってサインインがブロックされたと応答しています (レガシー認証 = 基本認証をブロックします)"},
	{rows: "S14", match: has("basic authentication is not supported for client submission"), cause: CauseBasicAuthRetired, conf: Definitive,
		en: "Exchange says Basic authentication is not supported for SMTP client submission: Microsoft's announced reply after Basic SMTP AUTH is removed for good, which no policy or switch undoes",
		ja: "Exchange は SMTP クライアント送信で基本認証をサポートしないと応答しています。SMTP AUTH の基本認証が完全に廃止された後の応答として Microsoft が告知したもので、ポリシーや設定では元に戻せません"},
	{rows: "S9 I12 P8", match: has("basic authentication is disabled"), cause: CauseBasicAuthDisabled, conf: Definitive,
		en: "the server says Basic authentication is disabled (in a tenant: an authentication policy or Microsoft's retirement; consumer Outlook.com accounts: retired since 2024-09-16)",
		ja: "サーバーは基本認証が無効だと応答しています (テナントでは認証ポリシーまたは Microsoft による廃止、Outlook.com の個人アカウントでは 2024-09-16 に廃止済み)"},
	{rows: "S10", match: has("the user credentials were incorrect"), cause: CauseBadCredentials, conf: Definitive,
		en: "Exchange says the user name or password is wrong",
		ja: "Exchange はユーザー名またはパスワードが正しくないと応答しています"},
	{rows: "S11", match: has("did not meet the criteria to be authenticated"), cause: CauseConditionalAccess, conf: Inferred, gen: exoCriteria,
		en: "Exchange says the sign-in did not meet the criteria to be authenticated: Microsoft documents this as a Conditional Access / multifactor authentication requirement the password login cannot satisfy; some third-party guides blame the mailbox SMTP AUTH switch instead, so check that too",
		ja: "Exchange は「認証の条件を満たしていない」と応答しています。Microsoft はこれを条件付きアクセス / 多要素認証の要求 (パスワードだけのログインでは満たせない) と説明していますが、メールボックスの SMTP AUTH 設定が原因とする情報もあるため、そちらも確認してください"},
	{rows: "S12", match: has("account locked"), cause: CauseAccountLocked, conf: Definitive,
		en: "Exchange says the account is locked (Entra smart lockout after repeated bad passwords, usually)",
		ja: "Exchange はアカウントがロックされていると応答しています (通常は誤ったパスワードの繰り返しによる Entra のスマート ロックアウト)"},
	{rows: "S13", match: has("account has an issue"), cause: CauseAccountDisabled, conf: Inferred,
		en: "Exchange says the account has an issue: most likely disabled, possibly an expired password (the words do not say which)",
		ja: "Exchange は「アカウントに問題がある」と応答しています。無効化されている可能性が最も高く、パスワードの期限切れの可能性もあります (応答からはどちらか判別できません)"},
	{rows: "I16", match: has("account is blocked"), cause: CauseAccountLocked, conf: Inferred,
		en: "the server says the account is blocked and asks for a browser sign-in to verify identity (risk-based block)",
		ja: "サーバーはアカウントがブロックされていると応答し、ブラウザーでのサインインによる本人確認を求めています (リスクに基づくブロック)"},

	// Session and transport.
	{rows: "S23", match: has("tls 1.0 and 1.1 are not supported"), cause: CauseTLSError, conf: Definitive,
		en: "the server refuses TLS 1.0/1.1: the client must use TLS 1.2 or later",
		ja: "サーバーは TLS 1.0/1.1 を拒否しています。TLS 1.2 以降が必要です"},
	{rows: "S22", match: has("starttls is required"), cause: CauseTLSError, conf: Definitive,
		en: "the server requires STARTTLS before mail commands: the client did not upgrade the connection",
		ja: "サーバーはメール コマンドの前に STARTTLS を要求しています。クライアントが接続を TLS に切り替えていません"},
	{rows: "S17 S18", match: has("unrecognized authentication type"), cause: CauseAuthMechanismUnsupported, conf: Definitive,
		en: "the server does not accept this SASL mechanism (smtp.office365.com offers only AUTH LOGIN and XOAUTH2, never AUTH PLAIN; MX hosts *.mail.protection.outlook.com take no AUTH at all)",
		ja: "サーバーはこの SASL メカニズムを受け付けません (smtp.office365.com が提供するのは AUTH LOGIN と XOAUTH2 のみで AUTH PLAIN はありません。MX ホスト *.mail.protection.outlook.com は AUTH を受け付けません)"},
	{rows: "S19", match: has("invalid xoauth2 auth data"), cause: CauseOAuthTokenInvalid, conf: Inferred,
		en: "the server rejected the XOAUTH2 data itself (seen from the High Volume Email endpoint): check the endpoint and the user=/auth= format",
		ja: "サーバーは XOAUTH2 のデータ自体を拒否しました (大量メール送信エンドポイントで観測)。接続先と user=/auth= の形式を確認してください"},
	{rows: "I8", match: has("accesstokenexpired"), cause: CauseOAuthTokenInvalid, conf: Definitive,
		en: "Exchange ended the session because the access token expired",
		ja: "アクセス トークンの期限切れにより Exchange がセッションを終了しました"},

	// Throttling and transient service trouble (§5b.7).
	{rows: "I10", match: has("request is throttled"), cause: CauseThrottled, conf: Definitive,
		en: "Exchange is throttling this mailbox; honour the suggested backoff time",
		ja: "Exchange がこのメールボックスを調整 (スロットリング) しています。提示された待機時間に従ってください"},
	{rows: "S27", match: has("sender thread limit exceeded"), cause: CauseThrottled, conf: Definitive,
		en: "Exchange limits concurrent submissions per mailbox (3)",
		ja: "Exchange はメールボックスごとの同時送信数 (3) を制限しています"},
	{rows: "S28", match: has("submissionquotaexceeded"), cause: CauseThrottled, conf: Definitive,
		en: "the mailbox reached its sending quota",
		ja: "メールボックスが送信の上限に達しました"},
	{rows: "I11 P7", match: has("server unavailable."), cause: CauseThrottled, conf: Inferred,
		en: "Exchange says the server is unavailable: throttling after many connections, or a backend incident (the words do not say which)",
		ja: "Exchange はサーバーが利用できないと応答しています。多数の接続による調整か、バックエンドの障害です (応答からは判別できません)"},
	{rows: "S24", match: has("service not active"), cause: CauseThrottled, conf: Inferred,
		en: "transient service error; retry later",
		ja: "一時的なサービス エラーです。後で再試行してください"},
	{rows: "S25", match: has("temporary server error"), cause: CauseThrottled, conf: Inferred,
		en: "transient proxy error; retry later",
		ja: "一時的なプロキシ エラーです。後で再試行してください"},

	// Post-authentication refusals.
	{rows: "S30", match: has("mailbox logon failure"), cause: CauseOAuthNotAuthorized, conf: Inferred,
		en: "the token was accepted but the mailbox could not be opened: with an application token this is the Exchange service principal or its mailbox permission",
		ja: "トークンは受け付けられましたがメールボックスを開けませんでした。アプリケーション トークンの場合、Exchange のサービス プリンシパルまたはメールボックスのアクセス許可の問題です"},
	{rows: "I6", match: has("user is authenticated but not connected"), cause: CauseOAuthNotAuthorized, conf: Inferred, gen: exoNotConnected,
		en: "Exchange accepted the authentication but refused the session on the first mailbox command",
		ja: "Exchange は認証を受け付けましたが、最初のメールボックス コマンドでセッションを拒否しました"},
	{rows: "I18", match: has("account has imap disabled"), cause: CauseProtocolDisabled, conf: Inferred,
		en: "the server says IMAP is disabled for this account",
		ja: "サーバーはこのアカウントで IMAP が無効だと応答しています"},
	{rows: "P11", match: has("account has pop disabled"), cause: CauseProtocolDisabled, conf: Inferred,
		en: "the server says POP is disabled for this account",
		ja: "サーバーはこのアカウントで POP が無効だと応答しています"},
	{rows: "S20 S21", match: has("client not authenticated to send mail", "client was not authenticated to send anonymous mail"), cause: CauseUnknown, conf: Unsure,
		en: "the server says the client was not authenticated when it sent MAIL FROM: AUTH was not sent or failed earlier, and that earlier reply is the one that names the cause",
		ja: "サーバーは MAIL FROM の時点でクライアントが認証されていないと応答しています。AUTH が送られなかったか、それ以前に失敗しています。原因を示すのはその以前の応答です"},
	{rows: "S29", match: has("sendasdenied", "does not have permissions to send as this sender"), cause: CauseUnknown, conf: Unsure,
		en: "authentication worked; the From address is not one this mailbox may send as (Send As permission)",
		ja: "認証は成功しています。差出人アドレスがこのメールボックスから送信できないアドレスです (SendAs アクセス許可)"},
	{rows: "S26", match: has("mailbox cannot be accessed"), cause: CauseUnknown, conf: Unsure,
		en: "Exchange says the mailbox cannot be accessed; the cause was never established in public reports",
		ja: "Exchange はメールボックスにアクセスできないと応答しています。公開された報告でも原因は特定されていません"},
	{rows: "I14", match: has("command argument error"), cause: CauseUnknown, conf: Unsure,
		en: "the server could not parse the command: typically a client that sent an unquoted password containing a space (it looks like a bad password but is a client bug)",
		ja: "サーバーはコマンドを解析できませんでした。多くの場合、空白を含むパスワードを引用符なしで送ったクライアントの不具合です (パスワード誤りに見えます)"},
	// Generic refusals: the words do not decide; compare attempts.
	// Clients that print only the enhanced code (MailKit's message, .NET's
	// "The server response was: 5.7.3 ...") drop the 535: the same reply.
	{rows: "S15 S16", match: re(`\b535[ -]5\.7\.3\b|^5\.7\.3 authentication unsuccessful\b`), cause: CauseUnknown, conf: Unsure, gen: exoSMTP573,
		en: "Exchange's generic SMTP refusal \"535 5.7.3 Authentication unsuccessful\"",
		ja: "Exchange の汎用的な SMTP 拒否「535 5.7.3 Authentication unsuccessful」"},
	{rows: "I2", match: re(`^(no )?login failed\.?$`), cause: CauseUnknown, conf: Unsure, gen: exoBasic,
		en: "Exchange's generic IMAP refusal \"LOGIN failed.\"",
		ja: "Exchange の汎用的な IMAP 拒否「LOGIN failed.」"},
	{rows: "P3", match: has("logon failure: unknown user name or bad password"), cause: CauseUnknown, conf: Unsure, gen: exoBasic,
		en: "Exchange's generic POP refusal \"Logon failure: unknown user name or bad password.\"",
		ja: "Exchange の汎用的な POP 拒否「Logon failure: unknown user name or bad password.」"},
	{rows: "P6", match: has("authentication failure: unknown user name or bad password"), cause: CauseUnknown, conf: Unsure, gen: exoOAuth,
		en: "Exchange's generic POP SASL refusal \"Authentication failure: unknown user name or bad password.\"",
		ja: "Exchange の汎用的な POP SASL 拒否「Authentication failure: unknown user name or bad password.」"},
	{rows: "I3 I5", match: re(`^(no )?authenticate failed\.?$`), cause: CauseUnknown, conf: Unsure, gen: exoOAuth,
		en: "Exchange's generic IMAP refusal \"AUTHENTICATE failed.\"",
		ja: "Exchange の汎用的な IMAP 拒否「AUTHENTICATE failed.」"},

	{rows: "I9 I17", match: has("command received in invalid state"), cause: CauseUnknown, conf: Unsure,
		en: "the command came in the wrong session state (after BYE, or LOGIN where LOGINDISABLED is advertised)",
		ja: "コマンドが誤ったセッション状態で送られました (BYE の後、または LOGINDISABLED が提示されている状態での LOGIN)"},

	// A 5.7.139 sentence this version does not know yet: Exchange's, so no
	// generic guess.
	{rows: "", match: has("5.7.139"), cause: CauseUnknown, conf: Unsure,
		en: "an Exchange 5.7.139 refusal whose sentence this version of exoprobe does not know; the sentence after \"Authentication unsuccessful,\" names the cause",
		ja: "このバージョンの exoprobe が知らない Exchange の 5.7.139 拒否です。「Authentication unsuccessful,」に続く文が原因を示しています"},
}

// foreignAuthRule is any other server's plain authentication failure
// (principle 4), tried last.
var foreignAuthRule = rule{rows: "", match: re(`authenticationfailed|\[auth\]|authentication failed|invalid credentials|bad credentials|\b535[ -]5\.7\.8\b|^535\b|incorrect password|login incorrect|authentication rejected|bad username or password|invalid user name or password|invalid login or password|username and password not accepted`),
	cause: CauseUnknown, conf: Unsure, gen: foreignAuth,
	en: "the server refused the credentials without saying why",
	ja: "サーバーは理由を示さずに資格情報を拒否しました"}

// matchRule finds the rule for a reply, and the de-noised line it matched,
// or nil. Each line is tried on its own (anchored rules need that: an IMAP
// client that falls back logs "NO AUTHENTICATE failed." then "NO LOGIN
// failed."), then the whole text as one line (sentences a client wrapped).
func matchRule(reply string) (*rule, string) {
	var cands []string
	lines := strings.Split(reply, "\n")
	if len(lines) > 1 {
		for _, l := range lines {
			if n := StripNoise(l); n != "" {
				cands = append(cands, n)
			}
		}
	}
	if n := StripNoise(reply); n != "" {
		cands = append(cands, n)
	}
	lows := make([]string, len(cands))
	for i, c := range cands {
		lows[i] = strings.ToLower(c)
	}
	for i := range rules {
		for j, low := range lows {
			if rules[i].match(low) {
				return &rules[i], cands[j]
			}
		}
	}
	return nil, ""
}

package diagnose

import (
	"regexp"
	"strconv"
	"strings"
)

// aadsts maps a Microsoft Entra token-endpoint error code to a cause
// (exo-responses.md §3). Microsoft warns that codes change; the JSON error
// field is the fallback (tokenErrorField).
type aadsts struct {
	cause  Cause
	en, ja string
}

var aadstsCodes = map[int]aadsts{
	50126:   {CauseBadCredentials, "invalid user name or password", "ユーザー名またはパスワードが無効です"},
	50056:   {CauseBadCredentials, "the user has no cloud password (federated or passwordless account)", "ユーザーにクラウド パスワードがありません (フェデレーションまたはパスワードレスのアカウント)"},
	50034:   {CauseBadCredentials, "the user account does not exist in this tenant", "このテナントにユーザー アカウントが存在しません"},
	50055:   {CauseBadCredentials, "the password has expired", "パスワードの有効期限が切れています"},
	50144:   {CauseBadCredentials, "the on-premises password has expired", "オンプレミスのパスワードの有効期限が切れています"},
	50053:   {CauseAccountLocked, "the account is locked (smart lockout), or sign-ins from this IP address are blocked as malicious", "アカウントがロックされています (スマート ロックアウト)。またはこの IP アドレスからのサインインが悪意あるものとしてブロックされています"},
	50057:   {CauseAccountDisabled, "the user account is disabled", "ユーザー アカウントが無効化されています"},
	50076:   {CauseMFARequired, "multifactor authentication is required", "多要素認証が必要です"},
	50079:   {CauseMFARequired, "the user must register for multifactor authentication", "ユーザーは多要素認証の登録が必要です"},
	50072:   {CauseMFARequired, "the user must enroll in multifactor authentication", "ユーザーは多要素認証の登録が必要です"},
	50074:   {CauseMFARequired, "strong authentication is required and was not passed", "強力な認証が必要ですが、満たされていません"},
	50158:   {CauseMFARequired, "an external security challenge (third-party MFA) was not satisfied", "外部のセキュリティ チャレンジ (サードパーティの MFA) が満たされていません"},
	53003:   {CauseConditionalAccess, "access blocked by Conditional Access policies", "条件付きアクセス ポリシーによってアクセスがブロックされました"},
	53000:   {CauseConditionalAccess, "Conditional Access requires a compliant device", "条件付きアクセスが準拠デバイスを要求しています"},
	53001:   {CauseConditionalAccess, "Conditional Access requires a domain-joined device", "条件付きアクセスがドメイン参加済みデバイスを要求しています"},
	50131:   {CauseConditionalAccess, "Conditional Access failed", "条件付きアクセスの評価に失敗しました"},
	530032:  {CauseConditionalAccess, "blocked by a tenant security policy", "テナントのセキュリティ ポリシーによってブロックされました"},
	70043:   {CauseConditionalAccess, "the refresh token expired under the Conditional Access sign-in frequency", "条件付きアクセスのサインイン頻度によりリフレッシュ トークンが期限切れになりました"},
	530035:  {CauseSecurityDefaults, "access blocked by security defaults (legacy or unsafe request)", "セキュリティの既定値によってアクセスがブロックされました (レガシーまたは安全でない要求)"},
	65001:   {CauseOAuthNotAuthorized, "the user or an administrator has not consented to the application", "ユーザーまたは管理者がアプリケーションに同意していません"},
	65004:   {CauseOAuthNotAuthorized, "the user declined consent", "ユーザーが同意を拒否しました"},
	90094:   {CauseOAuthNotAuthorized, "administrator consent is required", "管理者の同意が必要です"},
	90095:   {CauseOAuthNotAuthorized, "administrator consent is required", "管理者の同意が必要です"},
	50105:   {CauseOAuthNotAuthorized, "the user is not assigned to the application", "ユーザーがアプリケーションに割り当てられていません"},
	7000215: {CauseTokenRequestFailed, "invalid client secret (the secret's ID was sent instead of its value?)", "クライアント シークレットが無効です (値ではなくシークレット ID を送っていませんか)"},
	7000222: {CauseTokenRequestFailed, "the client secret has expired", "クライアント シークレットの有効期限が切れています"},
	70002:   {CauseTokenRequestFailed, "invalid client credentials", "クライアント資格情報が無効です"},
	7000218: {CauseTokenRequestFailed, "the request lacks client_secret or client_assertion (or public client flows are off for ROPC)", "client_secret または client_assertion がありません (または ROPC でパブリック クライアント フローが無効です)"},
	700025:  {CauseTokenRequestFailed, "a public client sent a secret", "パブリック クライアントがシークレットを送りました"},
	700016:  {CauseTokenRequestFailed, "the application (client id) was not found in this tenant", "このテナントにアプリケーション (クライアント ID) が見つかりません"},
	90002:   {CauseTokenRequestFailed, "the tenant was not found", "テナントが見つかりません"},
	50059:   {CauseTokenRequestFailed, "no tenant in the request", "要求にテナントの情報がありません"},
	50128:   {CauseTokenRequestFailed, "no tenant in the request", "要求にテナントの情報がありません"},
	9001023: {CauseTokenRequestFailed, "this grant type is not supported on /common or /consumers: use the tenant or /organizations", "この付与タイプは /common や /consumers では使えません。テナントまたは /organizations を使ってください"},
	9002332: {CauseTokenRequestFailed, "the application accepts Entra users only (not /consumers)", "アプリケーションは Entra ユーザー専用です (/consumers は不可)"},
	50020:   {CauseTokenRequestFailed, "the user belongs to another tenant or identity provider", "ユーザーは別のテナントまたは ID プロバイダーに属しています"},
	500011:  {CauseTokenRequestFailed, "the resource (Office 365 Exchange Online) has no service principal in this tenant", "リソース (Office 365 Exchange Online) のサービス プリンシパルがこのテナントにありません"},
	9002313: {CauseTokenRequestFailed, "the token request is malformed", "トークン要求の形式が不正です"},
	70011:   {CauseTokenRequestFailed, "the scope is not valid (client credentials need https://outlook.office365.com/.default)", "スコープが無効です (クライアント資格情報フローには https://outlook.office365.com/.default が必要です)"},
	1002012: {CauseTokenRequestFailed, "client credentials need a scope ending in /.default (https://outlook.office365.com/.default)", "クライアント資格情報フローには /.default で終わるスコープ (https://outlook.office365.com/.default) が必要です"},
	28000:   {CauseTokenRequestFailed, "the scopes name more than one resource: request one resource per token", "スコープに複数のリソースが含まれています。トークンごとに 1 つのリソースを要求してください"},
	700022:  {CauseTokenRequestFailed, "the scopes name more than one resource: request one resource per token", "スコープに複数のリソースが含まれています。トークンごとに 1 つのリソースを要求してください"},
	700082:  {CauseTokenRequestFailed, "the refresh token expired through inactivity: sign in interactively again", "リフレッシュ トークンが非アクティブにより期限切れになりました。再度対話的にサインインしてください"},
	70008:   {CauseTokenRequestFailed, "the refresh token expired or was revoked: sign in interactively again", "リフレッシュ トークンが期限切れか取り消されています。再度対話的にサインインしてください"},
	50173:   {CauseTokenRequestFailed, "the grant was revoked (password change or admin revocation): sign in interactively again", "付与が取り消されました (パスワード変更または管理者による取り消し)。再度対話的にサインインしてください"},
	50089:   {CauseTokenRequestFailed, "the flow token expired: sign in again", "フロー トークンの期限切れです。再度サインインしてください"},
	70000:   {CauseTokenRequestFailed, "invalid grant (for consumer accounts possibly flagged for abuse)", "無効な付与です (個人アカウントでは不正利用として検知された可能性があります)"},
	50196:   {CauseThrottled, "too many identical token requests (loop detected): cache tokens", "同一のトークン要求が多すぎます (ループ検出)。トークンをキャッシュしてください"},
	90055:   {CauseThrottled, "the tenant is throttled by Entra", "テナントが Entra によって調整されています"},
	500021:  {CauseTokenRequestFailed, "tenant restrictions on the network proxy block this tenant", "ネットワーク プロキシのテナント制限がこのテナントをブロックしています"},
	500022:  {CauseTokenRequestFailed, "tenant restrictions on the network proxy block this tenant", "ネットワーク プロキシのテナント制限がこのテナントをブロックしています"},
}

var aadstsInText = regexp.MustCompile(`AADSTS(\d{4,8})`)

// codesIn returns the AADSTS numbers named in free text, in order.
func codesIn(s string) []int {
	var out []int
	for _, m := range aadstsInText.FindAllStringSubmatch(s, 8) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// tokenErrorField maps the OAuth error field when no code is known.
func tokenErrorField(e string) (Cause, Confidence) {
	switch strings.ToLower(strings.TrimSpace(e)) {
	case "interaction_required":
		return CauseMFARequired, Inferred
	case "temporarily_unavailable", "slow_down":
		return CauseThrottled, Inferred
	case "consent_required":
		return CauseOAuthNotAuthorized, Inferred
	case "":
		return CauseTokenRequestFailed, Inferred
	default: // invalid_client, invalid_grant, invalid_scope, unauthorized_client, invalid_request, ...
		return CauseTokenRequestFailed, Definitive
	}
}

// cleanDescription drops Entra's trace and correlation ids and timestamp.
func cleanDescription(s string) string {
	return clip(strings.TrimSpace(traceTail.ReplaceAllString(s, "")), 300)
}

package diagnose

import (
	"regexp"
	"strconv"
	"strings"
)

// Any client's words, any server's words (DESIGN principle 5, issue 8 item
// 4): standard enhanced status codes (RFC 3463 and the IANA registry that
// extends it, RFC 5248), other servers' sentences, and what client
// libraries print for failures of their own (timeouts, DNS, a TLS mode that
// does not fit the port). Every rule here names a generic cause: none of
// them is Exchange's.

const (
	// CauseLoginDisabled: a server other than Exchange says logins are
	// disabled for this account (X.7.13 "User Account Disabled", Dovecot's
	// "Login disabled for this user"): the account, not the password.
	CauseLoginDisabled Cause = "login_disabled"
	// CauseAppPasswordRequired: the provider refuses the account's normal
	// password over IMAP/POP/SMTP because two-step verification is on, and
	// wants an app password or OAuth (Gmail's "534 5.7.9
	// Application-specific password required").
	CauseAppPasswordRequired Cause = "app_password_required"
)

func init() {
	catalog[CauseLoginDisabled] = entry{
		title: [2]string{"Login disabled for this account", "このアカウントのログインが無効"},
		summary: [2]string{
			"The server says logins are disabled for this account: the account is disabled or its administrator turned its login off. The password was not what was refused.",
			"サーバーはこのアカウントのログインが無効だと応答しています。アカウントが無効化されているか、管理者がログインを無効にしています。拒否されたのはパスワードではありません。",
		},
		steps: [2][]string{
			{
				"Ask the mail server's administrator whether the account is disabled or its login is turned off (Dovecot: a passdb nologin field; other servers: the account's status).",
				"For a Microsoft 365 mailbox, see exoprobe explain account_disabled instead.",
			},
			{
				"メール サーバーの管理者に、アカウントが無効か、ログインが無効にされているかを確認します (Dovecot では passdb の nologin フィールド、その他のサーバーではアカウントの状態)。",
				"Microsoft 365 のメールボックスの場合は、代わりに exoprobe explain account_disabled を参照してください。",
			},
		},
	}
	catalog[CauseAppPasswordRequired] = entry{
		title: [2]string{"App password (or OAuth) required", "アプリ パスワード (または OAuth) が必要"},
		summary: [2]string{
			"The account uses two-step verification, so the provider refuses its normal password for IMAP, POP and SMTP: it wants an app password generated for this application, or OAuth.",
			"このアカウントは 2 段階認証を使っているため、プロバイダーは IMAP、POP、SMTP で通常のパスワードを拒否します。このアプリケーション用に生成したアプリ パスワード、または OAuth が必要です。",
		},
		steps: [2][]string{
			{
				"Better: switch the application to OAuth (SASL XOAUTH2) if it supports it.",
				"Otherwise create an app password in the account's security settings (Google: myaccount.google.com/apppasswords) and put it, without spaces, in the application's password (exoprobe: the target's password_file).",
			},
			{
				"推奨: アプリケーションが対応していれば OAuth (SASL XOAUTH2) に切り替えます。",
				"それ以外の場合は、アカウントのセキュリティ設定でアプリ パスワードを作成し (Google: myaccount.google.com/apppasswords)、空白を除いてアプリケーションのパスワードに設定します (exoprobe ではターゲットの password_file)。",
			},
		},
	}
}

// standardRules are standard enhanced codes and other servers' words.
var standardRules = []rule{
	// Gmail: "534-5.7.9 Application-specific password required. Learn more
	// at https://support.google.com/mail/?p=InvalidSecondFactor".
	{rows: "", match: has("application-specific password required"), cause: CauseAppPasswordRequired, conf: Definitive,
		en: "the provider says an application-specific password is required: two-step verification is on and the normal password is refused",
		ja: "プロバイダーはアプリ固有のパスワードが必要だと応答しています。2 段階認証が有効で、通常のパスワードは拒否されます"},
	// RFC 5248 registry: X.7.13 "User Account Disabled".
	{rows: "", match: re(`\b[45]\.7\.13\b|user account disabled`), cause: CauseLoginDisabled, conf: Definitive,
		en: "the server says the user account is disabled (enhanced status code X.7.13, \"User Account Disabled\")",
		ja: "サーバーはユーザー アカウントが無効だと応答しています (拡張ステータス コード X.7.13「User Account Disabled」)"},
	// Dovecot login-common: CLIENT_AUTH_FAIL_CODE_LOGIN_DISABLED.
	{rows: "", match: has("login disabled for this user"), cause: CauseLoginDisabled, conf: Definitive,
		en: "the server says logins are disabled for this user (Dovecot's words for a passdb that turned the login off)",
		ja: "サーバーはこのユーザーのログインが無効だと応答しています (passdb でログインを無効にした場合の Dovecot の応答)"},
	// RFC 4954 §6: 534 5.7.9 "Authentication mechanism is too weak", 538
	// 5.7.11 "Encryption required for requested authentication mechanism".
	{rows: "", match: re(`\b5\.7\.9\b.*too weak|mechanism is too weak`), cause: CauseAuthMechanismUnsupported, conf: Definitive,
		en: "the server says the authentication mechanism is too weak (RFC 4954 534 5.7.9): use a stronger SASL mechanism",
		ja: "サーバーは認証メカニズムが弱すぎると応答しています (RFC 4954 の 534 5.7.9)。より強い SASL メカニズムを使ってください"},
	{rows: "", match: re(`\b5\.7\.11\b|encryption required for requested authentication mechanism`), cause: CauseTLSError, conf: Definitive,
		en: "the server requires TLS before this authentication mechanism (RFC 4954 538 5.7.11)",
		ja: "サーバーはこの認証メカニズムの前に TLS を要求しています (RFC 4954 の 538 5.7.11)"},
}

// clientRules are what client libraries print for failures of their own,
// with no server words. They are the client's statement of what happened,
// so they are definitive about the kind of failure (a timeout is a timeout).
var clientRules = []rule{
	// nodemailer lib/smtp-connection: "Greeting never received" (greeting
	// timeout), "Connection timeout" (connection timeout), code ETIMEDOUT.
	// Python: socket.timeout "timed out", TimeoutError "[Errno 110]
	// Connection timed out"; .NET/MailKit: "The operation has timed out.";
	// JavaMail: java.net.SocketTimeoutException "Read timed out" /
	// "connect timed out"; curl: "(28) Connection timed out after",
	// "Operation timed out after".
	{rows: "", match: has("greeting never received"), cause: CauseTimeout, conf: Definitive, client: true,
		en: "the client waited for the server's greeting and gave up (nodemailer's greeting timeout): the server accepted the connection and said nothing. On port 465 (or 993/995) without TLS from the first byte (nodemailer secure: false) this is a TLS mode mismatch, not a slow server",
		ja: "クライアントはサーバーのあいさつを待ってあきらめました (nodemailer のあいさつタイムアウト)。サーバーは接続を受け付けましたが何も送っていません。ポート 465 (または 993/995) に最初のバイトから TLS を使わずに接続した場合 (nodemailer の secure: false) は、遅いサーバーではなく TLS モードの不一致です"},
	{rows: "", match: re(`connection timeout|connection timed out|connect timed out|read timed out|operation (has )?timed out|socket\.timeout|\btimed out\b|etimedout`), cause: CauseTimeout, conf: Definitive, client: true,
		en: "the client says the connection or a read timed out: nothing answered in time",
		ja: "クライアントは接続または読み取りがタイムアウトしたと報告しています。時間内に応答がありませんでした"},
	// OpenSSL's SSL_R_WRONG_VERSION_NUMBER ("ssl3_get_record:wrong version
	// number", Python "[SSL: WRONG_VERSION_NUMBER] wrong version number"):
	// a TLS handshake that read plain text, the classic implicit TLS
	// against a STARTTLS port (587/143/110). Go says "first record does not
	// look like a TLS handshake".
	{rows: "", match: has("wrong version number", "wrong_version_number", "first record does not look like a tls handshake"), cause: CauseTLSModeMismatch, conf: Inferred, client: true,
		en: "the TLS handshake read something that is not TLS: most often TLS from the first byte against a port that starts in plain text with STARTTLS (587, 143, 110)",
		ja: "TLS ハンドシェイクが TLS ではないデータを受け取りました。最も多いのは、STARTTLS で平文から始まるポート (587、143、110) に最初のバイトから TLS で接続した場合です"},
	// DNS: Node getaddrinfo ENOTFOUND / EAI_AGAIN, glibc "Name or service
	// not known" (Python socket.gaierror [Errno -2]), "Temporary failure in
	// name resolution", Windows/.NET "No such host is known", macOS
	// "nodename nor servname provided, or not known", curl "(6) Could not
	// resolve host", Java UnknownHostException, Go "no such host".
	{rows: "", match: re(`enotfound|eai_again|name or service not known|temporary failure in name resolution|no such host is known|nodename nor servname provided|could not resolve host|unknownhostexception|\bno such host\b`), cause: CauseNetworkError, conf: Definitive, client: true,
		en: "the client could not resolve the server's name (DNS)",
		ja: "クライアントはサーバー名を解決できませんでした (DNS)"},
	// Refused, unreachable, reset: Node ECONNREFUSED / ECONNRESET /
	// EHOSTUNREACH, "Connection refused", Windows "No connection could be
	// made because the target machine actively refused it", "Network is
	// unreachable", curl "(7) Failed to connect".
	// A proxy between the client and the server: HTTP 407 (RFC 9110
	// §15.5.8 "Proxy Authentication Required"), Go's "proxyconnect tcp",
	// curl "(56) CONNECT tunnel failed" / "Received HTTP code 407 from
	// proxy after CONNECT".
	{rows: "", match: re(`proxy authentication required|\b407\b.*proxy|proxyconnect tcp|connect tunnel failed|from proxy after connect`), cause: CauseNetworkError, conf: Definitive, client: true,
		en: "a proxy between the client and the server refused or failed the connection: its address and credentials (HTTPS_PROXY) are the client's setting, not the server's",
		ja: "クライアントとサーバーの間のプロキシが接続を拒否したか失敗しました。プロキシのアドレスと資格情報 (HTTPS_PROXY) はサーバーではなくクライアントの設定です"},
	{rows: "", match: re(`econnrefused|econnreset|ehostunreach|enetunreach|connection refused|actively refused|network is unreachable|no route to host|connection reset by peer|failed to connect to`), cause: CauseNetworkError, conf: Definitive, client: true,
		en: "the client says the connection was refused, unreachable or reset",
		ja: "クライアントは接続が拒否された、到達できない、またはリセットされたと報告しています"},
}

// entraSentences are Microsoft Entra error_description sentences, for text
// pasted without its AADSTS code (an OAuth library that printed only the
// description, a log that cut it). Each stands for the code it comes with
// (exo-responses.md §3; learn.microsoft.com's AADSTS reference).
var entraSentences = []struct {
	phrase string
	code   int
}{
	{"invalid client secret provided", 7000215},
	{"client secret keys for app", 7000222}, // "The provided client secret keys for app '...' are expired."
	{"error validating credentials due to invalid username or password", 50126},
	{"the account is locked, you've tried to sign in too many times", 50053},
	// Not "User account is disabled." alone: other servers say that too
	// (X.7.13), and must not get Entra's cause.
	{"the account has been disabled by an administrator", 50057},
	{"due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication", 50076},
	{"you must enroll in multi-factor authentication", 50079},
	{"access has been blocked by conditional access policies", 53003},
	{"blockedbysecuritydefaults", 530035},
	{"access has been blocked by security defaults", 530035},
	{"the user or administrator has not consented to use the application", 65001},
	{"was not found in the directory", 700016}, // "Application with identifier '...' was not found in the directory '...'"
	{"the user's password is expired", 50055},
	{"the refresh token has expired due to inactivity", 700082},
	{"the request body must contain the following parameter: 'client_assertion' or 'client_secret'", 7000218},
	{"the provided value for the input parameter 'scope' is not valid", 70011},
}

// sentenceCodes returns the AADSTS codes Entra sentences in s stand for.
func sentenceCodes(s string) []int {
	low := strings.ToLower(s)
	var out []int
	for _, e := range entraSentences {
		if strings.Contains(low, e.phrase) {
			out = append(out, e.code)
		}
	}
	return out
}

var (
	// A token endpoint named in the text: Entra's, or an OAuth library's
	// words about fetching a token.
	tokenEndpointText = regexp.MustCompile(`(?i)login\.microsoftonline\.com|/oauth2/(v2\.0/)?token|cannot fetch token|token endpoint|msalserviceexception|msalclientexception|acquire_?token|['"]error_description['"]`)
	// The OAuth error field, JSON or form style, or a Python dict's repr
	// (MSAL Python returns the endpoint's JSON as a dict).
	oauthErrorField = regexp.MustCompile(`(?i)["']error["']\s*:\s*["']([a-z_]+)["']|\berror=([a-z_]+)`)
	oauthErrorDesc  = regexp.MustCompile(`(?i)["']error_description["']\s*:\s*["']([^"']{1,600})["']`)
	// An HTTP status an OAuth library printed: "401 Unauthorized", "status
	// code 400", "400 Client Error", "HTTP 401".
	httpStatus = regexp.MustCompile(`(?i)(?:status code|status|http(?:/\d(?:\.\d)?)?)\s*:?\s*([45]\d\d)\b|\b([45]\d\d)\s+(?:client error|unauthorized|bad request|forbidden)`)
)

// tokenError recognises a token-endpoint failure pasted from an OAuth
// library (Go x/oauth2 "oauth2: cannot fetch token: 401 Unauthorized
// Response: {...}", Python requests "401 Client Error: Unauthorized for
// url: https://login.microsoftonline.com/.../oauth2/v2.0/token", MSAL's
// exceptions, axios "Request failed with status code 400"): the OAuth error
// field, the description and the HTTP status. ok is false when the text
// does not name a token endpoint or carries nothing from it.
func tokenError(text string) (field, desc string, status int, ok bool) {
	if !tokenEndpointText.MatchString(text) {
		return "", "", 0, false
	}
	if m := oauthErrorField.FindStringSubmatch(text); m != nil {
		field = strings.ToLower(m[1] + m[2])
	}
	if m := oauthErrorDesc.FindStringSubmatch(text); m != nil {
		desc = m[1]
	}
	if m := httpStatus.FindStringSubmatch(text); m != nil {
		status, _ = strconv.Atoi(m[1] + m[2])
	}
	return field, desc, status, field != "" || desc != "" || status != 0 || len(sentenceCodes(text)) > 0
}

// inferMechanism reads the mechanism off pasted text that shows the login
// command or the bearer token's framing; "" when it does not.
func inferMechanism(text string) string {
	low := strings.ToLower(text)
	switch {
	case strings.Contains(low, "xoauth2"), strings.Contains(low, "oauthbearer"), strings.Contains(low, "auth=bearer"):
		return "xoauth2"
	case strings.Contains(low, "login completed"), strings.Contains(low, "authenticate plain"), strings.Contains(low, "auth login"),
		strings.Contains(low, "auth plain"), strings.Contains(low, "+ok user successfully logged on"):
		return "basic"
	}
	return ""
}

// mechanismCandidates are, per generic kind of words, the causes they mean
// with each mechanism: with the mechanism unknown, diagnose names none of
// them (DESIGN principle 4) but ranks them and says what decides.
var mechanismCandidates = map[generic][]Cause{
	exoNotConnected: {CauseProtocolDisabled, CauseOAuthNotAuthorized, CauseThrottled},
	exoOAuth:        {CauseOAuthTokenInvalid, CauseBadCredentials, CauseBasicAuthDisabled},
}

// mechanismSpecific are causes that hold for one mechanism only.
var mechanismSpecific = map[Cause]bool{
	CauseOAuthTokenInvalid: true, CauseOAuthNotAuthorized: true, CauseProtocolDisabled: true, CauseBasicAuthDisabled: true,
}

// unknownMechanism turns an inferred, mechanism-specific verdict reached
// without knowing the mechanism into unknown with ranked candidates.
func unknownMechanism(v verdict) verdict {
	if v.conf == Definitive || !mechanismSpecific[v.cause] {
		return v
	}
	// Words that name the cause themselves ("account has IMAP disabled")
	// stand whatever the mechanism; only the generic words refined by
	// comparison, and the OAuth reading of a refusal, need it.
	if v.gen == decided && v.cause != CauseOAuthNotAuthorized && v.cause != CauseOAuthTokenInvalid {
		return v
	}
	cands := mechanismCandidates[v.gen]
	if len(cands) == 0 {
		cands = []Cause{v.cause}
	}
	v.cause, v.conf, v.candidates = CauseUnknown, Unsure, cands
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = string(c)
	}
	v.ev.add("the mechanism is not known, and these words mean different causes for a password login and for XOAUTH2; candidates, most likely first: "+strings.Join(names, ", "),
		"認証方式が不明で、この応答はパスワード ログインと XOAUTH2 で異なる原因を意味します。候補 (可能性の高い順): "+strings.Join(names, ", "))
	v.ev.add("to decide: pass --mechanism basic or xoauth2, paste the LOGIN/AUTHENTICATE line too, or run a check with XOAUTH2 on the same mailbox",
		"判別するには: --mechanism basic または xoauth2 を指定するか、LOGIN/AUTHENTICATE の行も貼り付けるか、同じメールボックスを XOAUTH2 でチェックしてください")
	return v
}

package diagnose

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/probe"
)

// Causes on the probing side (DESIGN principle 5): a fault of exoprobe's own
// host or configuration. Their remedies name the file, key, flag or port to
// fix and never tenant PowerShell: nothing reached the tenant.
const (
	// CauseSecretUnreadable: a secret of our own (password, client secret,
	// certificate, refresh-token or token file, or its environment
	// variable) could not be read. Nothing was sent.
	CauseSecretUnreadable Cause = "secret_unreadable"
	// CauseTLSModeMismatch: implicit TLS against a STARTTLS (plain text)
	// port, or STARTTLS against an implicit-TLS port: both ends wait for
	// the other, or the handshake reads a greeting.
	CauseTLSModeMismatch Cause = "tls_mode_mismatch"
	// CauseTokenEndpointUnreachable: the token endpoint could not be
	// reached over HTTPS (443): DNS, a refused connection, no answer.
	CauseTokenEndpointUnreachable Cause = "token_endpoint_unreachable"
)

func init() {
	for c, e := range localCatalog {
		catalog[c] = e
	}
}

var localCatalog = map[Cause]entry{
	CauseSecretUnreadable: {
		title: [2]string{"Secret could not be read (local)", "秘密情報を読み取れない (ローカル)"},
		summary: [2]string{
			"exoprobe could not read a secret of its own (the file or environment variable named in the evidence), so it sent nothing to the server or the token endpoint. This says nothing about the tenant or the mailbox; no Exchange or Entra setting needs to change.",
			"exoprobe が自身の秘密情報 (根拠欄に示すファイルまたは環境変数) を読み取れなかったため、サーバーにもトークン エンドポイントにも何も送信していません。テナントやメールボックスについては何もわかっていません。Exchange や Entra の設定を変更する必要はありません。",
		},
		steps: [2][]string{
			{
				"Make the file named in the evidence exist, be readable by the user exoprobe runs as, and not be empty. In the config it is the target's password_file, or the OAuth app's client_secret_file, cert_file or refresh_token_file; for exoprobe check, --password-file, --client-secret-file, --cert-file, --refresh-token-file or --token-file.",
				"With password_env or client_secret_env (--password-env, --client-secret-env, --token-env), set that environment variable for the exoprobe process itself (a systemd unit's Environment=/EnvironmentFile=, the container's env).",
				"In Kubernetes or Docker, check that the Secret is mounted at that path (kubectl describe pod, docker inspect); passwords are read again at every attempt, so a fixed file is picked up without a restart.",
			},
			{
				"根拠欄に示すファイルが存在し、exoprobe を実行するユーザーが読み取れ、空でないようにします。設定ファイルではターゲットの password_file、または OAuth アプリの client_secret_file、cert_file、refresh_token_file です。exoprobe check では --password-file、--client-secret-file、--cert-file、--refresh-token-file、--token-file です。",
				"password_env や client_secret_env (--password-env、--client-secret-env、--token-env) を使う場合は、その環境変数を exoprobe のプロセス自体に設定します (systemd ユニットの Environment=/EnvironmentFile=、コンテナーの env)。",
				"Kubernetes や Docker では、Secret がそのパスにマウントされているか確認します (kubectl describe pod、docker inspect)。パスワードは試行のたびに読み直されるため、ファイルを直せば再起動なしで反映されます。",
			},
		},
	},
	CauseTLSModeMismatch: {
		title: [2]string{"TLS mode does not match the port (local)", "TLS モードとポートの不一致 (ローカル)"},
		summary: [2]string{
			"The connection used implicit TLS (TLS from the first byte) on a port that starts in plain text with STARTTLS, or STARTTLS on a port that expects TLS at once. The two ends wait for each other or misread each other: a longer timeout does not help.",
			"STARTTLS で平文から始まるポートに暗黙的 TLS (最初のバイトから TLS) で接続したか、すぐに TLS を期待するポートに STARTTLS で接続しました。両端が互いを待つか読み違えるため、タイムアウトを延ばしても解決しません。",
		},
		steps: [2][]string{
			{
				"Match the port to the mode: implicit TLS is IMAP 993, POP 995 and SMTP 465; STARTTLS starts in plain text on IMAP 143, POP 110 and SMTP 587. Exchange Online's SMTP client submission is STARTTLS on smtp.office365.com:587; IMAP and POP are outlook.office365.com:993 and :995 with implicit TLS.",
				"In the config: the target's hosts: (imap, pop, smtp) and its imap_starttls, pop_starttls or smtp_implicit_tls keys. For exoprobe check: --imap-addr, --pop-addr, --smtp-addr with --imap-starttls, --pop-starttls or --smtp-implicit-tls.",
			},
			{
				"ポートとモードを合わせます。暗黙的 TLS は IMAP 993、POP 995、SMTP 465、STARTTLS は平文で始まる IMAP 143、POP 110、SMTP 587 です。Exchange Online の SMTP クライアント送信は smtp.office365.com:587 の STARTTLS、IMAP と POP は outlook.office365.com:993 と :995 の暗黙的 TLS です。",
				"設定ファイルではターゲットの hosts: (imap、pop、smtp) と imap_starttls、pop_starttls、smtp_implicit_tls キー、exoprobe check では --imap-addr、--pop-addr、--smtp-addr と --imap-starttls、--pop-starttls、--smtp-implicit-tls です。",
			},
		},
		links: []string{linkArticleSMTPAuth, linkPOPIMAPEnable},
	},
	CauseTokenEndpointUnreachable: {
		title: [2]string{"Token endpoint unreachable (local network)", "トークン エンドポイントに到達できない (ローカル ネットワーク)"},
		summary: [2]string{
			"exoprobe could not reach the OAuth token endpoint over HTTPS (port 443): the name did not resolve, the connection was refused, or nothing answered in time. No token was requested, so nothing is known about the app, its secret or the tenant.",
			"exoprobe は OAuth トークン エンドポイントに HTTPS (ポート 443) で到達できませんでした。名前解決の失敗、接続の拒否、または時間内に応答がありません。トークンは要求されていないため、アプリ、シークレット、テナントについては何もわかっていません。",
		},
		steps: [2][]string{
			{
				"Allow outbound HTTPS (TCP 443) from the exoprobe host to login.microsoftonline.com, or to the host of the OAuth app's authority: or token_url: in the config (exoprobe check: --authority, --token-url), and make sure DNS resolves it.",
				"Behind a proxy, set HTTPS_PROXY in exoprobe's own environment (and NO_PROXY for hosts it must reach directly).",
				"The mail ports (587, 993, 995) are another path: they can be open while 443 to the token endpoint is not.",
			},
			{
				"exoprobe のホストから login.microsoftonline.com (設定ファイルの OAuth アプリの authority: または token_url: のホスト、exoprobe check では --authority、--token-url) への送信方向の HTTPS (TCP 443) を許可し、DNS で名前解決できることを確認します。",
				"プロキシ経由の場合は、exoprobe 自体の環境に HTTPS_PROXY を設定します (直接接続するホストは NO_PROXY に)。",
				"メールのポート (587、993、995) は別の経路です。それらが開いていても、トークン エンドポイントへの 443 が閉じていることがあります。",
			},
		},
		links: []string{linkErrorCodes},
	},
}

// Implicit-TLS and plain-text (STARTTLS) ports by convention (RFC 8314 for
// 993/995/465; 143/110/587 start in plain text).
var (
	implicitTLSPorts = []string{"993", "995", "465"}
	plainTextPorts   = []string{"143", "110", "587", "25"}
)

func portOf(server string) string {
	_, port, err := net.SplitHostPort(server)
	if err != nil {
		return ""
	}
	return port
}

func hadStage(a *probe.Attempt, st probe.Stage) bool {
	return slices.ContainsFunc(a.Timings, func(t probe.StageTiming) bool { return t.Stage == st })
}

// classifySecret is a secret we could not read: local, definitive.
func classifySecret(a *probe.Attempt) verdict {
	var v verdict
	v.cause, v.conf = CauseSecretUnreadable, Definitive
	what, whatJA := "a secret", "秘密情報"
	switch {
	case a.Mechanism == probe.Basic:
		what, whatJA = "the password", "パスワード"
	case a.Stage == probe.StageToken:
		what, whatJA = "the OAuth app's secret, certificate or token file", "OAuth アプリのシークレット、証明書、またはトークン ファイル"
	}
	v.ev.add(fmt.Sprintf("%s: exoprobe could not read %s, so nothing was sent to the server or the token endpoint", who(a), what),
		fmt.Sprintf("%s: exoprobe が%sを読み取れなかったため、サーバーにもトークン エンドポイントにも何も送信していません", who(a), whatJA))
	if a.Error != "" {
		v.ev.add("local error: "+clip(a.Error, 300), "ローカルのエラー: "+clip(a.Error, 300))
	}
	return v
}

// tlsModeMismatch recognises a TLS mode that does not fit the port: an
// implicit-TLS handshake that read a plain-text greeting (Go's crypto/tls
// says "first record does not look like a TLS handshake"; OpenSSL "wrong
// version number"), or a plain-text wait for a greeting on a port that
// expects TLS from the first byte.
//
// What the probe saw decides on any port (Attempt.TLSMode): a handshake
// that read plain text, or a TLS answer from a server that never greeted
// in plain text. The port convention is only the fallback.
func tlsModeMismatch(a *probe.Attempt) (verdict, bool) {
	var v verdict
	port := portOf(a.Server)
	low := strings.ToLower(a.Error)
	switch {
	case a.TLSMode == probe.ServerPlainText && (a.Stage == probe.StageTLS || a.Stage == probe.StageStartTLS):
		v.cause, v.conf = CauseTLSModeMismatch, Definitive
		v.ev.add(fmt.Sprintf("%s: the implicit TLS handshake to %s read plain text where the server's first TLS record belonged (a greeting): the server starts in plain text, so this address wants STARTTLS (or another port)", who(a), a.Server),
			fmt.Sprintf("%s: %s への暗黙的 TLS のハンドシェイクが、サーバーの最初の TLS レコードの位置で平文 (あいさつ) を受け取りました。サーバーは平文で始まるため、このアドレスには STARTTLS (または別のポート) が必要です", who(a), a.Server))
	case a.TLSMode == probe.ServerTLSFirst && (a.ErrorKind == probe.ErrTimeout || a.ErrorKind == probe.ErrConnect) && a.Stage == probe.StageGreeting:
		v.cause, v.conf = CauseTLSModeMismatch, Definitive
		v.ev.add(fmt.Sprintf("%s: no plain-text greeting came from %s, and a TLS handshake to the same address was answered: the server speaks TLS from the first byte (implicit TLS), so both ends waited for each other", who(a), a.Server),
			fmt.Sprintf("%s: %s から平文のあいさつがなく、同じアドレスへの TLS ハンドシェイクには応答がありました。サーバーは最初のバイトから TLS を話す (暗黙的 TLS) ため、両端が互いを待ちました", who(a), a.Server))
	case a.ErrorKind == probe.ErrTLS && a.Stage == probe.StageTLS &&
		(strings.Contains(low, "first record does not look like a tls handshake") || strings.Contains(low, "wrong version number") ||
			slices.Contains(plainTextPorts, port)):
		v.ev.add(fmt.Sprintf("%s: the implicit TLS handshake to %s read something that is not TLS: the port starts in plain text (STARTTLS)", who(a), a.Server),
			fmt.Sprintf("%s: %s への暗黙的 TLS のハンドシェイクが TLS ではないデータを受け取りました。このポートは平文 (STARTTLS) で始まります", who(a), a.Server))
	case (a.ErrorKind == probe.ErrTimeout || a.ErrorKind == probe.ErrConnect) && a.Stage == probe.StageGreeting &&
		!hadStage(a, probe.StageTLS) && slices.Contains(implicitTLSPorts, port):
		v.ev.add(fmt.Sprintf("%s: no plain-text greeting from %s: port %s expects TLS from the first byte, so both ends waited for each other", who(a), a.Server, port),
			fmt.Sprintf("%s: %s から平文のあいさつがありません。ポート %s は最初のバイトから TLS を期待するため、両端が互いを待ちました", who(a), a.Server, port))
	default:
		return v, false
	}
	if v.cause == "" {
		v.cause, v.conf = CauseTLSModeMismatch, Inferred
	}
	if a.Error != "" {
		v.ev.add("local error: "+clip(a.Error, 300), "ローカルのエラー: "+clip(a.Error, 300))
	}
	return v, true
}

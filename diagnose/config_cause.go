package diagnose

import (
	"fmt"
	"slices"

	"github.com/exoprobe/exoprobe/probe"
)

// CauseConfigInvalid: the check as configured cannot run (probe.ErrConfig):
// no password or token source for its mechanism, an address without a
// port, an unknown protocol or mechanism. The probe stopped before it
// connected, so nothing is known of the server, the account or the
// tenant: a local cause (DESIGN principle 5) whose remedy names the config
// key or flag, never tenant PowerShell.
const CauseConfigInvalid Cause = "config_invalid"

func init() {
	catalog[CauseConfigInvalid] = entry{
		title: [2]string{"Check cannot run as configured (local)", "チェックを設定どおりに実行できない (ローカル)"},
		summary: [2]string{
			"The check's configuration cannot work (the evidence says what is missing or wrong), so exoprobe did not connect and sent nothing. This says nothing about the server, the mailbox or the tenant; no Exchange or Entra setting needs to change.",
			"チェックの設定では実行できないため (何が不足または誤っているかは根拠欄に示します)、exoprobe は接続せず、何も送信していません。サーバー、メールボックス、テナントについては何もわかっていません。Exchange や Entra の設定を変更する必要はありません。",
		},
		steps: [2][]string{
			{
				"A Basic check needs the target's password_file or password_env (exoprobe check: --password-file, --password-env); an XOAUTH2 check needs the target's oauth: naming an entry of oauth_apps (exoprobe check: --client-id with --client-secret-file, --cert-file, --refresh-token-file or --token-file).",
				"Addresses are host:port: the target's (or defaults') hosts: imap, pop and smtp (exoprobe check: --imap-addr, --pop-addr, --smtp-addr); protocol is imap, pop or smtp and mechanism basic or xoauth2 in checks:.",
				"exoprobe check --config FILE runs every check once and shows this cause for each one that cannot run; the daemon reloads a fixed file on SIGHUP or POST /-/reload.",
			},
			{
				"基本認証のチェックにはターゲットの password_file または password_env (exoprobe check では --password-file、--password-env) が、XOAUTH2 のチェックには oauth_apps のエントリーを指すターゲットの oauth: (exoprobe check では --client-id と --client-secret-file、--cert-file、--refresh-token-file、--token-file のいずれか) が必要です。",
				"アドレスは host:port 形式です。ターゲット (または defaults) の hosts: の imap、pop、smtp (exoprobe check では --imap-addr、--pop-addr、--smtp-addr) を確認します。checks: の protocol は imap、pop、smtp、mechanism は basic または xoauth2 です。",
				"exoprobe check --config FILE はすべてのチェックを 1 回実行し、実行できないチェックにこの原因を表示します。デーモンは SIGHUP または POST /-/reload で修正したファイルを読み直します。",
			},
		},
	}
	order = slices.Insert(order, slices.Index(order, CauseUnknown), CauseConfigInvalid)
}

// classifyConfig is a check that could not run as configured: local,
// definitive (the probe itself says what is missing).
func classifyConfig(a *probe.Attempt) verdict {
	var v verdict
	v.cause, v.conf = CauseConfigInvalid, Definitive
	v.ev.add(fmt.Sprintf("%s: the check cannot run as configured, so exoprobe did not connect and sent nothing", who(a)),
		fmt.Sprintf("%s: チェックを設定どおりに実行できないため、exoprobe は接続せず、何も送信していません", who(a)))
	if a.Error != "" {
		v.ev.add("local error: "+clip(a.Error, 300), "ローカルのエラー: "+clip(a.Error, 300))
	}
	return v
}

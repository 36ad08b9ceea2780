package diagnose

import (
	"fmt"
	"slices"

	"github.com/exoprobe/exoprobe/probe"
)

// CauseProtocolError: the server (or token endpoint) sent more than the
// probe reads in one line, one stage or one HTTP body (probe.LimitError,
// recorded in Attempt.Limit). No login was judged, so nothing is known of
// the account or the tenant: a local, generic cause whose remedy is about
// where the probe points, never tenant PowerShell.
const CauseProtocolError Cause = "protocol_error"

func init() {
	catalog[CauseProtocolError] = entry{
		title: [2]string{"Server broke the protocol (limit exceeded)", "サーバーのプロトコル違反 (上限超過)"},
		summary: [2]string{
			"The server sent more than any mail server or token endpoint sends at this point (an endless line, reply or body); exoprobe stopped reading at its limit. Nothing was learned about the account.",
			"サーバーが、この段階でメール サーバーやトークン エンドポイントが送る量を超えるデータ (終わらない行、応答、本文) を送ったため、exoprobe は上限で読み取りを止めました。アカウントについては何も分かっていません。",
		},
		steps: [2][]string{
			{
				"Check that the check's address really is the mail server (or the token endpoint): not a web server, a proxy, a load balancer's error page or a tarpit.",
				"Run exoprobe check --transcript against it to see what it sent before the limit; the README's \"Limits on what a server can send\" lists the limits.",
			},
			{
				"チェックのアドレスが本当にメール サーバー (またはトークン エンドポイント) であり、Web サーバー、プロキシ、ロード バランサーのエラー ページ、ターピットではないことを確認します。",
				"exoprobe check --transcript で上限までに送られた内容を確認します。上限の一覧は README の「Limits on what a server can send」にあります。",
			},
		},
	}
	order = slices.Insert(order, slices.Index(order, CauseUnknown), CauseProtocolError)
}

// classifyLimit names a crossed read limit (or capability data the probe
// refused to hand go-imap): the attempt never got a whole reply, so no
// server words or comparison can say more.
func classifyLimit(a *probe.Attempt) (verdict, bool) {
	var v verdict
	if a.Limit == nil || a.OK || a.ErrorKind != probe.ErrProtocol {
		return v, false
	}
	v.cause, v.conf = CauseProtocolError, Definitive
	if a.Limit.Name == probe.LimitIMAPCapabilitySyntax {
		v.ev.add(fmt.Sprintf("%s at stage %s: the server's capability data contains \"(\", which no capability may (RFC 9051 §9); exoprobe refused it before parsing", who(a), a.Limit.Stage),
			fmt.Sprintf("%s (段階 %s): サーバーの capability データに、どの capability にも含まれてはならない \"(\" があります (RFC 9051 §9)。exoprobe は解析前に拒否しました", who(a), a.Limit.Stage))
		return v, true
	}
	v.ev.add(fmt.Sprintf("%s at stage %s: the server exceeded exoprobe's %s limit (%d); the rest was not read", who(a), a.Limit.Stage, a.Limit.Name, a.Limit.Max),
		fmt.Sprintf("%s (段階 %s): サーバーが exoprobe の上限 %s (%d) を超えました。残りは読み取っていません", who(a), a.Limit.Stage, a.Limit.Name, a.Limit.Max))
	return v, true
}

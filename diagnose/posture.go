package diagnose

import "strings"

// PostureRemedy answers the opposite problem to every catalog entry: a check
// that must fail (Basic auth that must stay off) logged in. The catalog's
// fixes turn logins on; this one finds what let Basic back in and turns it
// off again for that protocol only — never by switching SMTP AUTH off for
// the tenant, which would stop XOAUTH2 submission too (exo-responses.md S5).
// vars.Protocol names the protocol ("imap", "pop" or "smtp"; empty means
// all three).
func PostureRemedy(lang string, vars Vars) Remedy {
	l := langIndex(lang)
	params := map[string]string{"imap": "AllowBasicAuthImap", "pop": "AllowBasicAuthPop", "smtp": "AllowBasicAuthSmtp"}
	var off []string
	for _, p := range strings.Split(strings.ToLower(vars.Protocol), ",") {
		if param, ok := params[strings.TrimSpace(p)]; ok {
			off = append(off, "-"+param+":$false")
		}
	}
	if len(off) == 0 {
		off = []string{"-AllowBasicAuthImap:$false", "-AllowBasicAuthPop:$false", "-AllowBasicAuthSmtp:$false"}
	}
	summary := [2]string{
		"Basic authentication works on a check that must stay off: this account's password can be used (and sprayed) without MFA. Find the authentication policy that lets Basic in for this protocol and turn it off again, then revoke the user's refresh tokens so the change applies now.",
		"無効であるべき基本認証でログインできています。このアカウントのパスワードが MFA なしで使える (パスワード スプレーの対象になる) 状態です。このプロトコルで基本認証を許可している認証ポリシーを特定して再び無効にし、ユーザーの更新トークンを失効させて変更をすぐに反映してください。",
	}
	caveats := [2][]string{
		{
			"Check the unified audit log (Search-UnifiedAuditLog) for who changed the policy or the assignment, and when.",
			"A user with no policy assigned falls back to the organization's default policy (Get-OrganizationConfig); with no default policy, Basic is allowed.",
		},
		{
			"統合監査ログ (Search-UnifiedAuditLog) で、ポリシーや割り当てを変更した管理者と時刻を確認してください。",
			"ポリシーが割り当てられていないユーザーには組織の既定ポリシー (Get-OrganizationConfig) が適用されます。既定ポリシーがなければ基本認証は許可されます。",
		},
	}
	r := Remedy{
		Summary: summary[l],
		Inspect: []string{
			"Get-User -Identity <user> | Select AuthenticationPolicy",
			"Get-OrganizationConfig | Select DefaultAuthenticationPolicy",
			"Get-AuthenticationPolicy | Select Name,AllowBasicAuthImap,AllowBasicAuthPop,AllowBasicAuthSmtp",
		},
		Fix: []string{
			"Set-AuthenticationPolicy -Identity <policy> " + strings.Join(off, " "),
			"Set-User -Identity <user> -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)",
		},
		Caveats: slicesClone(caveats[l]),
		Links:   []string{linkDisableBasic, linkSetAuthPolicy},
		Steps:   []string{},
	}
	if vars.User == "" {
		vars.User = vars.Mailbox
	}
	for _, s := range []*[]string{&r.Inspect, &r.Fix} {
		for i := range *s {
			(*s)[i] = fill((*s)[i], vars)
		}
	}
	return r
}

// postureProof is the one table that decides, per cause, whether a refused
// login proves an `expect: fail` check's posture: the server refused for a
// reason that means this login (Basic, usually) cannot succeed, so the
// control the check watches is in force. Every other refusal proves nothing
// about it — a failure before the credentials were sent, a secret we could
// not read, a timeout, TLS, the network, a wrong password (it says nothing
// of whether Basic would work with the right one), a locked or disabled
// account (unlocked, it might log in), or words nobody can read — and leaves
// the posture unverified.
//
// Every cause of the catalog has a row: TestPostureProofCoversEveryCause
// fails for a cause added without deciding here.
var postureProof = map[Cause]bool{
	CauseOK: false, // a login: the posture is breached, not proved

	// The server says (or the comparison shows) that this way of logging in
	// is off: the control holds.
	CauseBasicAuthDisabled:      true,
	CauseBasicAuthRetired:       true,
	CauseSMTPAuthDisabledTenant: true,
	CauseSMTPAuthDisabledMbx:    true,
	CauseSecurityDefaults:       true,
	CauseConditionalAccess:      true, // a policy blocking legacy authentication
	CauseProtocolDisabled:       true, // the protocol itself is off for the mailbox

	// Refusals that say nothing about whether Basic would work.
	CauseMFARequired:              false, // an app password may still log in
	CauseBadCredentials:           false,
	CauseAccountLocked:            false,
	CauseAccountDisabled:          false,
	CauseOAuthTokenInvalid:        false,
	CauseOAuthNotAuthorized:       false,
	CauseTokenRequestFailed:       false,
	CauseAuthMechanismUnsupported: false, // another password mechanism may still work
	CauseThrottled:                false,

	// Failures before or around the server's judgement.
	CauseTLSError:      false,
	CauseNetworkError:  false,
	CauseTimeout:       false,
	CauseProtocolError: false,
	CauseUnknown:       false,

	// Faults on our side: nothing reached the server.
	CauseSecretUnreadable:         false,
	CauseTLSModeMismatch:          false,
	CauseTokenEndpointUnreachable: false,
	CauseConfigInvalid:            false,

	// Other servers' words.
	CauseLoginDisabled:       false, // the account, not Basic
	CauseAppPasswordRequired: false, // an app password logs in with Basic
}

// ProvesPosture reports whether a refusal with this cause can prove that an
// `expect: fail` check holds: the cause's row of the table. A cause missing
// from the table (one added without deciding) proves nothing: unverified is
// the safe answer. Whether one finding proves it also depends on how the
// cause was reached: see PostureProof.
func ProvesPosture(c Cause) bool { return postureProof[c] }

// PostureProof decides whether the refusal a finding describes proves an
// `expect: fail` check: its cause must be one that means the login cannot
// succeed (ProvesPosture), and the evidence must show it. The server's
// words or the tenant's settings (definitive) do; so does a comparison
// that rules out the password (Basic works on another protocol with the
// same password, a server that advertises no password login, another
// attempt's explicit words). A weak inference (Finding.Weak: refused here
// while XOAUTH2 works, which a wrong password also produces) does not, nor
// does an unsure one.
func PostureProof(f Finding) bool {
	return ProvesPostureOf(f.Cause, f.Confidence, f.Weak)
}

// ProvesPostureOf is PostureProof for callers that keep a finding's parts
// apart (the scheduler's compact state).
func ProvesPostureOf(c Cause, conf Confidence, weak bool) bool {
	switch {
	case !ProvesPosture(c), conf == Unsure:
		return false
	case weak && conf != Definitive:
		return false
	}
	return true
}

// PostureUnverifiedText says, in "en" or "ja", why a refused posture check
// proves nothing, for the check output and the status page. A cause that
// could prove the posture is here only because it was weakly inferred
// (PostureProof), and the text says so.
func PostureUnverifiedText(c Cause, lang string) string {
	switch {
	case c == CauseBasicAuthDisabled:
		if langIndex(lang) == ja {
			return "ログインは拒否され、比較からは " + string(c) + " と推測されますが、パスワードの誤りでも同じ拒否になるため、基本認証が無効であることは証明されていません。ポスチャは未検証です。"
		}
		return "The login was refused and the comparison points to " + string(c) + ", but a wrong password is refused the same way, so nothing shows that Basic authentication is off: the posture is unverified."
	case ProvesPosture(c):
		if langIndex(lang) == ja {
			return "ログインは拒否され、比較からは " + string(c) + " と推測されますが、その根拠はこのログインがブロックされていることを示していません。ポスチャは未検証です。"
		}
		return "The login was refused and the comparison points to " + string(c) + ", but what it rests on does not show that this login is blocked: the posture is unverified."
	}
	if langIndex(lang) == ja {
		return "ログインは失敗しましたが、その原因 (" + string(c) + ") は基本認証が無効であることを示しません。ポスチャは未検証です。下の原因を解消すると、チェックが再び検証できるようになります。"
	}
	return "The login failed, but its cause (" + string(c) + ") does not show that Basic authentication is off: the posture is unverified. Fix that cause so the check can verify it again."
}

// PostureUnverifiedRemedy is the remedy to show for an unverified posture
// check whose finding has cause c: the remedy of what hides the posture (a
// local fault, the network, a wrong password). For a cause that could prove
// the posture but was only weakly inferred, the cause's own remedy would
// turn Basic on — the opposite of what the check guards — so the remedy is
// what would make the refusal proof instead, with no fix lines.
func PostureUnverifiedRemedy(c Cause, lang string, vars Vars) Remedy {
	if !ProvesPosture(c) {
		return RemedyFor(c, lang, vars)
	}
	l := langIndex(lang)
	summary := [2]string{
		"Show that the password is right, so the refusal proves Basic is off: make sure the check's password_file holds the account's current password, and add a Basic check with the same password on a protocol where Basic is meant to work (for example SMTP), or read the tenant's authentication policy.",
		"拒否が基本認証の無効を証明できるよう、パスワードが正しいことを示してください。チェックの password_file にアカウントの現在のパスワードが入っていることを確認し、基本認証が使えるはずのプロトコル (SMTP など) で同じパスワードによる基本認証のチェックを追加するか、テナントの認証ポリシーを読み取ってください。",
	}
	steps := [2][]string{
		{
			"Check that password_file (or password_env) of this target holds the account's current password.",
			"Add a check with mechanism basic and the same password on a protocol whose Basic login must work, or configure tenant reads so the authentication policy itself is evidence.",
		},
		{
			"このターゲットの password_file (または password_env) にアカウントの現在のパスワードが入っていることを確認してください。",
			"基本認証でのログインが成功するはずのプロトコルに、同じパスワードで mechanism basic のチェックを追加するか、テナントの読み取りを設定して認証ポリシーそのものを証拠にしてください。",
		},
	}
	if c != CauseBasicAuthDisabled {
		summary = [2]string{
			"Make the refusal proof: configure tenant reads so that the tenant's own settings (authentication policies, Conditional Access, security defaults) are evidence, or add a Basic check with the same password whose server names the block in words (SMTP does).",
			"拒否を証明できるようにしてください。テナントの読み取りを設定してテナント自身の設定 (認証ポリシー、条件付きアクセス、セキュリティの既定値) を証拠にするか、サーバーがブロックを言葉で示す (SMTP は示します) 同じパスワードの基本認証チェックを追加してください。",
		}
	}
	if vars.User == "" {
		vars.User = vars.Mailbox
	}
	inspect := []string{
		"Get-User -Identity <user> | Select AuthenticationPolicy",
		"Get-AuthenticationPolicy | Select Name,AllowBasicAuthImap,AllowBasicAuthPop,AllowBasicAuthSmtp",
	}
	for i := range inspect {
		inspect[i] = fill(inspect[i], vars)
	}
	return Remedy{
		Summary: summary[l],
		Inspect: inspect,
		Fix:     []string{},
		Caveats: []string{},
		Links:   []string{linkSetAuthPolicy},
		Steps:   slicesClone(steps[l]),
	}
}

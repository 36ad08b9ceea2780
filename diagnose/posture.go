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

	// Other servers' words.
	CauseLoginDisabled:       false, // the account, not Basic
	CauseAppPasswordRequired: false, // an app password logs in with Basic
}

// ProvesPosture reports whether a refusal with this cause proves that an
// `expect: fail` check holds. A cause missing from the table (one added
// without deciding) proves nothing: unverified is the safe answer.
func ProvesPosture(c Cause) bool { return postureProof[c] }

// PostureUnverifiedText says, in "en" or "ja", why a refused posture check
// proves nothing, for the check output and the status page.
func PostureUnverifiedText(c Cause, lang string) string {
	if langIndex(lang) == ja {
		return "ログインは失敗しましたが、その原因 (" + string(c) + ") は基本認証が無効であることを示しません。ポスチャは未検証です。下の原因を解消すると、チェックが再び検証できるようになります。"
	}
	return "The login failed, but its cause (" + string(c) + ") does not show that Basic authentication is off: the posture is unverified. Fix that cause so the check can verify it again."
}

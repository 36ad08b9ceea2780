package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/redact"
)

// evidence collects lines in English and Japanese side by side.
type evidence struct{ en, ja []string }

func (e *evidence) add(en, ja string) {
	e.en = append(e.en, en)
	e.ja = append(e.ja, ja)
}

// verdict is a classification before the remedy is attached.
type verdict struct {
	cause Cause
	conf  Confidence
	ev    evidence
	rule  *rule // the server text's rule, if one matched
	gen   generic
	// weak: see Finding.Weak.
	weak bool
	// candidates rank the causes an unknown verdict may be, most likely
	// first.
	candidates []Cause
}

// Classify diagnoses the Attempts of one target: one Finding per attempt, in
// the same order. Successful attempts get CauseOK. Where the server's words
// are generic, the other attempts in the slice are the comparison set
// (Basic vs XOAUTH2 on the same protocol, the same password across
// protocols), so pass every attempt of the target in one call.
func Classify(attempts []probe.Attempt) []Finding {
	direct := make([]verdict, len(attempts))
	for i := range attempts {
		direct[i] = classifyOne(&attempts[i])
	}
	out := make([]Finding, len(attempts))
	for i := range attempts {
		v := direct[i]
		if v.gen != decided {
			v = refine(attempts, direct, i)
		}
		if attempts[i].Mechanism == "" {
			v = unknownMechanism(v)
		}
		out[i] = finding(&attempts[i], v)
	}
	return out
}

// ClassifyReply diagnoses a server reply pasted from an application's log,
// client wrappers included (see Unwrap). mech may be "" when unknown.
func ClassifyReply(proto probe.Protocol, mech probe.Mechanism, text string) Finding {
	// Pasted text may carry credentials; evidence quotes it.
	text = redact.Text(text)
	if mech == "" {
		mech = probe.Mechanism(inferMechanism(text))
	}
	a := probe.Attempt{Protocol: proto, Mechanism: mech, Stage: probe.StageAuth, ErrorKind: probe.ErrRefused}
	codes := append(codesIn(text), sentenceCodes(text)...)
	field, desc, _, tokenText := tokenError(text)
	if len(codes) > 0 || tokenText {
		// A token-endpoint error pasted as is, with its AADSTS code, an
		// Entra sentence that stands for one, or an OAuth library's
		// HTTP error naming the endpoint.
		if desc == "" {
			desc = text
		}
		a.Stage, a.ErrorKind = probe.StageToken, probe.ErrToken
		a.Token = &probe.TokenInfo{Error: field, ErrorCodes: codes, Description: desc}
		f := Classify([]probe.Attempt{a})[0]
		if f.Cause == CauseTokenRequestFailed && field == "" && len(codes) == 0 {
			f.Evidence = append(f.Evidence, "the text names the token endpoint but not its error field or AADSTS code: the error_description (or the Entra sign-in log) says which of the client, secret, scope or grant was refused")
			f.EvidenceJA = append(f.EvidenceJA, "テキストはトークン エンドポイントを示していますが、error フィールドや AADSTS コードがありません。クライアント、シークレット、スコープ、付与のどれが拒否されたかは error_description (または Entra のサインイン ログ) が示します")
		}
		return f
	}
	a.Reply = Unwrap(text)
	// The last reply decides success: "OK LOGIN completed." followed by a
	// refusal of the next command is a failure after authentication.
	lines := strings.Split(a.Reply, "\n")
	if r, _ := matchRule(lines[len(lines)-1]); r != nil && r.cause == CauseOK {
		a.OK, a.Stage, a.ErrorKind = true, probe.StageDone, probe.ErrNone
	} else if len(lines) > 1 {
		if r, _ := matchRule(lines[0]); r != nil && r.cause == CauseOK {
			a.AuthReply, a.Reply = lines[0], strings.Join(lines[1:], "\n")
		}
	}
	f := Classify([]probe.Attempt{a})[0]
	if (f.Cause == CauseNetworkError || f.Cause == CauseTimeout) && tokenEndpointText.MatchString(text) {
		// The client could not reach the token endpoint: 443, not the
		// mail ports.
		f.Cause, f.Remedy = CauseTokenEndpointUnreachable, RemedyFor(CauseTokenEndpointUnreachable, "en", varsFor(&a))
		f.Evidence = append(f.Evidence, "the text names the token endpoint: it is the HTTPS (443) path to it that failed, not the mail server's")
		f.EvidenceJA = append(f.EvidenceJA, "テキストはトークン エンドポイントを示しています。失敗したのはメール サーバーではなく、そこへの HTTPS (443) の経路です")
	}
	return f
}

func finding(a *probe.Attempt, v verdict) Finding {
	vars := varsFor(a)
	f := Finding{
		Cause:      v.cause,
		Confidence: v.conf,
		Protocol:   string(a.Protocol),
		Mechanism:  string(a.Mechanism),
		Evidence:   v.ev.en,
		EvidenceJA: v.ev.ja,
		Remedy:     RemedyFor(v.cause, "en", vars),
		Candidates: v.candidates,
		Weak:       v.weak && v.conf == Inferred,
	}
	if f.Evidence == nil {
		f.Evidence = []string{}
	}
	return f
}

// varsFor fills remedy placeholders from what the attempt knows.
func varsFor(a *probe.Attempt) Vars {
	v := Vars{Mailbox: a.User, User: a.User, Protocol: string(a.Protocol)}
	if a.Token != nil {
		v.AppID = a.Token.AppID
		v.Tenant = a.Token.TenantID
	}
	return v
}

// who names an attempt in evidence: "imap xoauth2", or "imap" when the
// mechanism is not known (a pasted reply).
func who(a *probe.Attempt) string {
	return strings.TrimSpace(string(a.Protocol) + " " + string(a.Mechanism))
}

func quote(s string) string { return "\"" + clip(s, 240) + "\"" }

// classifyOne reads one attempt on its own: the server's words first, then
// the token endpoint, then the local error.
func classifyOne(a *probe.Attempt) verdict {
	var v verdict
	if lv, ok := classifyLimit(a); ok { // limits.go
		return lv
	}
	if a.OK {
		v.cause, v.conf = CauseOK, Definitive
		v.ev.add(who(a)+": authentication and the post-login command succeeded",
			who(a)+": 認証とログイン後のコマンドが成功しました")
		return v
	}
	if a.ErrorKind == probe.ErrConfig {
		return classifyConfig(a) // config_cause.go
	}
	if a.ErrorKind == probe.ErrSecret {
		// Before the token check: a secret file that cannot be read is
		// not the token endpoint's refusal (no request was made).
		return classifySecret(a)
	}
	tokenFailed := a.Stage == probe.StageToken || a.ErrorKind == probe.ErrToken ||
		(a.Token != nil && (a.Token.Error != "" || len(a.Token.ErrorCodes) > 0))
	if tokenFailed {
		return classifyToken(a)
	}
	for _, text := range []string{a.Reply, a.AuthReply} {
		if text == "" {
			continue
		}
		r, line := matchRule(text)
		if r == nil {
			continue
		}
		if r.cause == CauseOK && text == a.AuthReply && a.Reply == "" {
			continue // the AUTH worked; what failed later is local
		}
		if r.cause == CauseOK {
			continue
		}
		v.cause, v.conf, v.rule, v.gen = r.cause, r.conf, r, r.gen
		if r.client {
			v.ev.add(fmt.Sprintf("%s: the client reported %s", who(a), quote(line)),
				fmt.Sprintf("%s: クライアントの報告 %s", who(a), quote(line)))
		} else {
			v.ev.add(fmt.Sprintf("%s at stage %s: the server said %s", who(a), a.Stage, quote(line)),
				fmt.Sprintf("%s (段階 %s): サーバーの応答 %s", who(a), a.Stage, quote(line)))
		}
		ruleEvidence(&v.ev, r)
		if text == a.Reply && a.AuthReply != "" && a.AuthReply != a.Reply {
			v.ev.add("the reply to the authentication command was "+quote(StripNoise(a.AuthReply)),
				"認証コマンドへの応答は "+quote(StripNoise(a.AuthReply))+" でした")
		}
		return v
	}
	if lv, ok := classifyLocal(a); ok {
		return lv
	}
	v.cause, v.conf = CauseUnknown, Unsure
	if a.Reply != "" {
		n := StripNoise(a.Reply)
		v.ev.add(fmt.Sprintf("%s at stage %s: the server said %s, which exoprobe does not recognise", who(a), a.Stage, quote(n)),
			fmt.Sprintf("%s (段階 %s): サーバーの応答 %s は exoprobe の知らない応答です", who(a), a.Stage, quote(n)))
	} else {
		v.ev.add(fmt.Sprintf("%s failed at stage %s without a server reply", who(a), a.Stage),
			fmt.Sprintf("%s は段階 %s でサーバーの応答なしに失敗しました", who(a), a.Stage))
	}
	if a.Error != "" {
		v.ev.add("local error: "+clip(a.Error, 300), "ローカルのエラー: "+clip(a.Error, 300))
	}
	return v
}

func ruleEvidence(ev *evidence, r *rule) {
	en, ja := r.en, r.ja
	if r.rows != "" {
		en += " (exo-responses " + r.rows + ")"
		ja += " (exo-responses " + r.rows + ")"
	}
	ev.add(en, ja)
}

// classifyLocal handles failures with no server words: the network, TLS,
// the deadline.
func classifyLocal(a *probe.Attempt) (verdict, bool) {
	if v, ok := tlsModeMismatch(a); ok {
		return v, true
	}
	var v verdict
	detail := ""
	if a.Error != "" {
		detail = ": " + clip(a.Error, 300)
	}
	switch a.ErrorKind {
	case probe.ErrDNS:
		v.cause, v.conf = CauseNetworkError, Definitive
		v.ev.add("the server name could not be resolved"+detail, "サーバー名を解決できませんでした"+detail)
	case probe.ErrConnect:
		v.cause, v.conf = CauseNetworkError, Definitive
		v.ev.add("the connection could not be made or was cut"+detail, "接続できなかったか、接続が切断されました"+detail)
	case probe.ErrTLS:
		v.cause, v.conf = CauseTLSError, Definitive
		v.ev.add("the TLS handshake or certificate check failed"+detail, "TLS ハンドシェイクまたは証明書の検証に失敗しました"+detail)
	case probe.ErrTimeout:
		v.cause, v.conf = CauseTimeout, Definitive
		v.ev.add(fmt.Sprintf("no answer before the deadline at stage %s%s", a.Stage, detail),
			fmt.Sprintf("段階 %s で期限までに応答がありませんでした%s", a.Stage, detail))
		if a.Stage == probe.StageAuth {
			v.ev.add("Exchange can take 5 to 18 seconds to refuse a login: a timeout under about 30 s turns policy refusals into timeouts (exo-responses §2)",
				"Exchange はログインの拒否に 5～18 秒かかることがあります。約 30 秒未満のタイムアウトでは、ポリシーによる拒否がタイムアウトに見えます (exo-responses §2)")
		}
	case probe.ErrPolicy:
		v.cause, v.conf = CauseTLSError, Inferred
		v.ev.add("exoprobe did not send credentials because the connection was not protected by TLS (allow_plaintext is off)"+detail,
			"接続が TLS で保護されていないため、exoprobe は資格情報を送信しませんでした (allow_plaintext は無効)"+detail)
	default:
		return v, false
	}
	return v, true
}

// classifyToken reads a token-endpoint failure: AADSTS code first, then the
// OAuth error field.
func classifyToken(a *probe.Attempt) verdict {
	var v verdict
	t := a.Token
	if t == nil {
		t = &probe.TokenInfo{}
	}
	codes := slices.Clone(t.ErrorCodes)
	codes = append(codes, codesIn(t.Description)...)
	codes = append(codes, codesIn(a.Error)...)
	if len(codes) == 0 {
		// Entra's sentence without its code.
		codes = append(sentenceCodes(t.Description), sentenceCodes(a.Error)...)
	}
	desc := cleanDescription(t.Description)
	for _, c := range codes {
		if e, ok := aadstsCodes[c]; ok {
			v.cause, v.conf = e.cause, Definitive
			v.ev.add(fmt.Sprintf("the token endpoint refused the %s request: AADSTS%d, %s", flowName(t.Flow), c, e.en),
				fmt.Sprintf("トークン エンドポイントが %s 要求を拒否しました: AADSTS%d、%s", flowName(t.Flow), c, e.ja))
			if desc != "" {
				v.ev.add("error_description: "+desc, "error_description: "+desc)
			}
			return v
		}
	}
	v.cause, v.conf = tokenErrorField(t.Error)
	switch {
	case t.Error != "" || len(codes) > 0:
		v.ev.add(fmt.Sprintf("the token endpoint refused the %s request: error=%q codes=%v", flowName(t.Flow), t.Error, codes),
			fmt.Sprintf("トークン エンドポイントが %s 要求を拒否しました: error=%q codes=%v", flowName(t.Flow), t.Error, codes))
	default:
		v.ev.add("no access token could be obtained", "アクセス トークンを取得できませんでした")
	}
	if desc != "" {
		v.ev.add("error_description: "+desc, "error_description: "+desc)
	}
	if a.Error != "" && a.Error != t.Description {
		v.ev.add("local error: "+clip(a.Error, 300), "ローカルのエラー: "+clip(a.Error, 300))
	}
	// A token endpoint that cannot be reached over 443 is a local network
	// problem with its own remedy (not the mail ports').
	switch a.ErrorKind {
	case probe.ErrDNS, probe.ErrConnect, probe.ErrTimeout:
		v.cause, v.conf = CauseTokenEndpointUnreachable, Definitive
		v.ev = evidence{}
		v.ev.add(fmt.Sprintf("%s: the token endpoint could not be reached over HTTPS (%s): no token was requested, so nothing is known about the app or the tenant", who(a), a.ErrorKind),
			fmt.Sprintf("%s: トークン エンドポイントに HTTPS で到達できませんでした (%s)。トークンは要求されていないため、アプリやテナントについては何もわかっていません", who(a), a.ErrorKind))
		if a.Error != "" {
			v.ev.add("local error: "+clip(a.Error, 300), "ローカルのエラー: "+clip(a.Error, 300))
		}
	case probe.ErrTLS:
		v.cause, v.conf = CauseTLSError, Definitive
	}
	return v
}

func flowName(f string) string {
	if f == "" {
		return "token"
	}
	return f
}

// refine settles a generic server text by comparing attempts (§5b.2-4).
func refine(all []probe.Attempt, direct []verdict, i int) verdict {
	a := &all[i]
	v := direct[i]
	switch v.gen {
	case exoBasic, exoSMTP573:
		if v.gen == exoSMTP573 && a.Mechanism == probe.XOAUTH2 {
			return refineOAuth(all, i, v, true)
		}
		return refineBasic(all, direct, i, v)
	case exoOAuth:
		if a.Mechanism == probe.Basic {
			// I3: AUTHENTICATE PLAIN refused with the same words as I5.
			return refineBasic(all, direct, i, v)
		}
		return refineOAuth(all, i, v, true)
	case exoNotConnected:
		return refineNotConnected(all, i, v)
	case exoCriteria:
		// The words come from Microsoft's documentation of CA/MFA, not
		// from a capture naming the policy: inferred, unless a password
		// token request for the same user says which.
		for j := range all {
			d := direct[j]
			if j == i || all[j].Token == nil || all[j].Token.Flow != "password" || d.conf != Definitive {
				continue
			}
			switch d.cause {
			case CauseMFARequired, CauseConditionalAccess, CauseSecurityDefaults:
				v.cause = d.cause
				v.ev.add(fmt.Sprintf("a password token request for the same user says %s", d.cause),
					fmt.Sprintf("同じユーザーのパスワードによるトークン要求は %s と判定されています", d.cause))
				return v
			}
		}
	case foreignAuth:
		switch a.Mechanism {
		case probe.XOAUTH2:
			return refineOAuth(all, i, v, false)
		case probe.Basic:
			v.cause, v.conf = CauseBadCredentials, Inferred
			v.ev.add("this server gives no reason; for a password login the usual one is a wrong user name or password",
				"このサーバーは理由を示していません。パスワード ログインでは通常、ユーザー名またはパスワードの誤りです")
		default:
			v.ev.add("pass --mechanism basic or xoauth2: the same words mean a bad password or a refused token",
				"--mechanism basic または xoauth2 を指定してください。同じ応答がパスワード誤りもトークン拒否も意味します")
		}
	}
	return v
}

func okOn(all []probe.Attempt, p probe.Protocol, m probe.Mechanism, skip int) bool {
	for j := range all {
		if j != skip && all[j].OK && all[j].Protocol == p && all[j].Mechanism == m {
			return true
		}
	}
	return false
}

// passwordCauses are causes another attempt with the same password can
// establish for this one.
var passwordCauses = []Cause{CauseBadCredentials, CauseAccountLocked, CauseAccountDisabled, CauseSecurityDefaults, CauseMFARequired, CauseConditionalAccess}

func refineBasic(all []probe.Attempt, direct []verdict, i int, v verdict) verdict {
	a := &all[i]
	if a.Mechanism == "" {
		v.ev.add("pass --mechanism basic or xoauth2 to narrow this down", "--mechanism basic または xoauth2 を指定すると絞り込めます")
		if v.gen == exoSMTP573 {
			v.ev.add("with Basic this usually means the password was refused; with XOAUTH2 the token was refused (expired, wrong audience or scope, user= mismatch, app not set up in Exchange)",
				"基本認証なら通常はパスワードの拒否、XOAUTH2 ならトークンの拒否 (期限切れ、対象ユーザーやスコープの誤り、user= の不一致、Exchange 側のアプリ未設定) です")
		}
		return v
	}
	// Explicit words first (issue 8): another attempt with the same
	// password whose server named a cause in so many words (SMTP's 5.7.139
	// "security defaults", a token endpoint's AADSTS code) beats the weaker
	// comparisons below, which only show that Basic is refused here.
	for j := range all {
		d := direct[j]
		if j == i || d.gen != decided || d.conf != Definitive || !slices.Contains(passwordCauses, d.cause) {
			continue
		}
		samePassword := all[j].Mechanism == probe.Basic ||
			(all[j].Token != nil && all[j].Token.Flow == "password")
		if !samePassword {
			continue
		}
		v.cause, v.conf = d.cause, Inferred
		v.ev.add(fmt.Sprintf("with the same password, %s says %s", who(&all[j]), d.cause),
			fmt.Sprintf("同じパスワードで %s は %s と判定されています", who(&all[j]), d.cause))
		if d.cause == CauseConditionalAccess && all[j].Mechanism != probe.Basic {
			// A Conditional Access policy that blocked a password token
			// request (a modern client) need not cover legacy IMAP, POP
			// and SMTP clients: weak for a posture (Finding.Weak).
			v.weak = true
			v.ev.add("that was a password token request: a Conditional Access policy for modern clients need not cover legacy mail clients",
				"それはパスワードによるトークン要求でした。最新のクライアント向けの条件付きアクセス ポリシーがレガシーなメール クライアントにも適用されるとは限りません")
		}
		return v
	}
	for j := range all {
		if j != i && all[j].OK && all[j].Mechanism == probe.Basic && all[j].Protocol != a.Protocol {
			v.cause, v.conf = CauseBasicAuthDisabled, Inferred
			v.ev.add(fmt.Sprintf("Basic works on %s with the same password, so the password is right and Basic is refused for %s", all[j].Protocol, a.Protocol),
				fmt.Sprintf("同じパスワードで %s の基本認証は成功しているため、パスワードは正しく、%s で基本認証が拒否されています", all[j].Protocol, a.Protocol))
			return v
		}
	}
	if a.Protocol == probe.IMAP && hasCap(a.Capabilities, "LOGINDISABLED") && !hasCap(a.Capabilities, "AUTH=PLAIN") {
		v.cause, v.conf = CauseBasicAuthDisabled, Inferred
		v.ev.add("the server advertises LOGINDISABLED and no AUTH=PLAIN over TLS: it takes no password login at all (exo-responses I13)",
			"サーバーは TLS 上で LOGINDISABLED を提示し AUTH=PLAIN を提示していません。パスワード ログインを一切受け付けません (exo-responses I13)")
		return v
	}
	// The weakest comparison last: XOAUTH2 working shows the mailbox and
	// protocol are fine, but a wrong password is refused with the same
	// words as Basic being off, so the finding is weak (Finding.Weak): it
	// names the likely cause for a check that should log in, and proves
	// nothing for a check that must stay refused.
	if okOn(all, a.Protocol, probe.XOAUTH2, i) {
		v.cause, v.conf, v.weak = CauseBasicAuthDisabled, Inferred, true
		v.ev.add(fmt.Sprintf("XOAUTH2 works on %s for the same mailbox, so the mailbox and protocol are fine and Basic is what is refused", a.Protocol),
			fmt.Sprintf("同じメールボックスで %s の XOAUTH2 は成功しているため、メールボックスとプロトコルは正常で、拒否されているのは基本認証です", a.Protocol))
		v.ev.add("a wrong password gets the same refusal: a Basic check with the same password that works on another protocol (or the tenant's settings) would show the password is right",
			"パスワードの誤りでも同じ拒否になります。同じパスワードで別のプロトコルの基本認証が成功するチェック (またはテナントの設定) があれば、パスワードが正しいことを示せます")
		return v
	}
	if v.gen == exoSMTP573 {
		v.cause, v.conf = CauseBadCredentials, Inferred
		v.ev.add("for a Basic login this older generic refusal usually means the user name or password was refused; run a check with XOAUTH2 as well to tell it from a Basic block",
			"基本認証ではこの古い汎用的な拒否は通常、ユーザー名またはパスワードの拒否を意味します。基本認証のブロックと区別するには XOAUTH2 でもチェックしてください")
		return v
	}
	v.cause, v.conf = CauseUnknown, Unsure
	v.ev.add("Exchange gives these same words for a wrong password, for Basic authentication being off (permanently for IMAP/POP in Exchange Online since 2022-2023), for a disallowed app password and for security defaults",
		"Exchange はパスワードの誤り、基本認証の無効化 (Exchange Online の IMAP/POP では 2022～2023 年以降恒久的)、許可されていないアプリ パスワード、セキュリティの既定値のいずれにも同じ応答を返します")
	v.ev.add("to decide, check the same mailbox with XOAUTH2, or Basic on SMTP with the same password",
		"判別するには、同じメールボックスを XOAUTH2 で、または同じパスワードで SMTP の基本認証をチェックしてください")
	return v
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		for _, f := range strings.Fields(x) {
			if strings.EqualFold(f, c) {
				return true
			}
		}
	}
	return false
}

// problemCode is the code before the colon of a TokenInfo.Problems entry.
func problemCode(p string) string {
	code, _, _ := strings.Cut(p, ":")
	return strings.TrimSpace(code)
}

var problemJA = map[string]string{
	probe.ProblemAudGraph:     "トークンの aud が Microsoft Graph です。Exchange の IMAP/POP/SMTP はこれを拒否します",
	probe.ProblemAudUnusual:   "トークンの aud が https://ps.outlook.com (マルチテナントの管理者の同意に使うリソース) です。IMAP/POP/SMTP が受け付けるリソースではなく、IMAP で拒否された公開報告があります (MailKit#1811)。https://outlook.office365.com/.default を要求してください",
	probe.ProblemExpired:      "トークンの有効期限が切れています",
	probe.ProblemMissingScope: "委任トークンの scp にこのプロトコルのスコープがありません",
	probe.ProblemMissingRole:  "アプリケーション トークンの roles にこのプロトコルのロールがありません",
	probe.ProblemNoPermission: "トークンに roles も scp もありません。アプリケーションに Exchange のアクセス許可がないか、管理者の同意がありません",
	probe.ProblemUserMismatch: "トークンの発行先ユーザーと XOAUTH2 の user= が異なります",
}

func refineOAuth(all []probe.Attempt, i int, v verdict, exchange bool) verdict {
	a := &all[i]
	t := a.Token
	if t != nil {
		var invalid, notAuth []string
		for _, p := range t.Problems {
			switch problemCode(p) {
			case probe.ProblemAudGraph, probe.ProblemAudUnusual, probe.ProblemExpired, probe.ProblemMissingScope, probe.ProblemUserMismatch:
				invalid = append(invalid, p)
			case probe.ProblemMissingRole, probe.ProblemNoPermission:
				notAuth = append(notAuth, p)
			}
		}
		addProblems := func(ps []string) {
			for _, p := range ps {
				ja := problemJA[problemCode(p)]
				if ja == "" {
					ja = p
				}
				v.ev.add("token claims: "+p, "トークンのクレーム: "+ja)
			}
		}
		switch {
		case len(notAuth) > 0:
			v.cause, v.conf = CauseOAuthNotAuthorized, Inferred
			addProblems(notAuth)
			addProblems(invalid)
			return v
		case len(invalid) > 0:
			v.cause, v.conf = CauseOAuthTokenInvalid, Inferred
			addProblems(invalid)
			return v
		}
		appOnly := t.Flow == "client_credentials" || (len(t.Roles) > 0 && len(t.Scopes) == 0)
		// The same mechanism across protocols (§5b.2): the same token
		// accepted on another protocol of the same mailbox means the
		// server took its audience, expiry, signature and user=, so
		// what is refused here is particular to this protocol.
		if j := sameTokenOn(all, i, true); j >= 0 {
			other := all[j].Protocol
			v.ev.add(fmt.Sprintf("XOAUTH2 with the same token works on %s for the same mailbox, so the token itself is fine (audience, expiry, user=); what is refused is particular to %s", other, a.Protocol),
				fmt.Sprintf("同じトークンによる XOAUTH2 は同じメールボックスの %s で成功しているため、トークン自体 (対象、有効期限、user=) は正常です。拒否されているのは %s に固有の設定です", other, a.Protocol))
			if exchange && appOnly {
				v.cause, v.conf = CauseOAuthNotAuthorized, Inferred
				v.ev.add(fmt.Sprintf("for an application token that is Exchange's permission for %s: IMAP and POP need Add-MailboxPermission FullAccess for the app's service principal, SMTP its own role (SMTP.SendAsApp) and service principal", a.Protocol),
					fmt.Sprintf("アプリケーション トークンの場合、%s に対する Exchange 側のアクセス許可です。IMAP と POP にはアプリのサービス プリンシパルへの Add-MailboxPermission FullAccess が、SMTP には専用のロール (SMTP.SendAsApp) とサービス プリンシパルが必要です", a.Protocol))
				return v
			}
			v.cause, v.conf = CauseUnknown, Unsure
			if exchange {
				v.ev.add(fmt.Sprintf("likely: %s is disabled for this mailbox (Get-EXOCasMailbox -Properties ImapEnabled,PopEnabled, or SMTP AUTH for SMTP), or the delegated grant lacks this protocol's scope", a.Protocol),
					fmt.Sprintf("考えられる原因: このメールボックスで %s が無効 (Get-EXOCasMailbox -Properties ImapEnabled,PopEnabled、SMTP では SMTP AUTH)、または委任の付与にこのプロトコルのスコープがありません", a.Protocol))
			} else {
				v.ev.add(fmt.Sprintf("this server refuses the token for %s only: check the server's configuration for that protocol", a.Protocol),
					fmt.Sprintf("このサーバーは %s でのみトークンを拒否しています。そのプロトコルのサーバー設定を確認してください", a.Protocol))
			}
			return v
		}
		if exchange && appOnly {
			v.cause, v.conf = CauseOAuthNotAuthorized, Inferred
			v.ev.add(fmt.Sprintf("the application token looks right (roles %v), so Exchange's side is missing: the app's service principal (New-ServicePrincipal with the enterprise application's Object ID) or its permission on this mailbox (Add-MailboxPermission)", t.Roles),
				fmt.Sprintf("アプリケーション トークンは正しく見えます (roles %v)。不足しているのは Exchange 側の設定、つまりアプリのサービス プリンシパル (エンタープライズ アプリケーションのオブジェクト ID を指定した New-ServicePrincipal) か、このメールボックスへのアクセス許可 (Add-MailboxPermission) です", t.Roles))
			return v
		}
		if exchange {
			// A clean delegated token refused: nothing decides.
			v.cause, v.conf = CauseUnknown, Unsure
			v.ev.add("the delegated token's claims look right (audience, scope, user, expiry); Exchange refuses it anyway: the protocol may be disabled for the mailbox, the grant revoked, or the account blocked — see the Entra sign-in logs",
				"委任トークンのクレーム (対象、スコープ、ユーザー、有効期限) は正しく見えますが Exchange は拒否しています。メールボックスでプロトコルが無効、付与の取り消し、アカウントのブロックが考えられます。Entra のサインイン ログを確認してください")
			if j := sameTokenOn(all, i, false); j >= 0 {
				v.ev.add(fmt.Sprintf("XOAUTH2 with the same token is refused on %s too: a revoked grant or a blocked account is more likely than one protocol being off", all[j].Protocol),
					fmt.Sprintf("同じトークンによる XOAUTH2 は %s でも拒否されています。1 つのプロトコルの無効化より、付与の取り消しやアカウントのブロックの可能性が高いです", all[j].Protocol))
			}
			return v
		}
	}
	v.cause, v.conf = CauseOAuthTokenInvalid, Inferred
	if exchange {
		v.ev.add("Exchange gives these same words for an expired token, a wrong audience (a Graph token) or scope, an XOAUTH2 user= that is not the token's user, and an application not set up in Exchange (New-ServicePrincipal / Add-MailboxPermission); the token itself is the usual culprit",
			"Exchange は期限切れのトークン、誤った対象 (Graph 用トークン) やスコープ、トークンのユーザーと異なる XOAUTH2 の user=、Exchange 側で未設定のアプリケーション (New-ServicePrincipal / Add-MailboxPermission) のいずれにも同じ応答を返します。通常はトークン自体が原因です")
	} else {
		v.ev.add("the server refused the access token without saying why (expired, wrong audience or issuer, or not valid for this user)",
			"サーバーは理由を示さずにアクセス トークンを拒否しました (期限切れ、対象や発行者の誤り、このユーザーに無効など)")
	}
	return v
}

// sameTokenOn finds another protocol's XOAUTH2 attempt on the same mailbox
// that used the same access token (the same decoded claims: a cached token
// is shared across protocols) and succeeded (ok) or failed (!ok); -1 if
// none.
func sameTokenOn(all []probe.Attempt, i int, ok bool) int {
	a := &all[i]
	for j := range all {
		b := &all[j]
		if j == i || b.OK != ok || b.Mechanism != probe.XOAUTH2 || b.Protocol == a.Protocol ||
			!strings.EqualFold(b.User, a.User) || !sameToken(a.Token, b.Token) {
			continue
		}
		if !ok && (b.Stage != probe.StageAuth || b.ErrorKind != probe.ErrRefused) {
			continue // only another refusal of the token counts
		}
		return j
	}
	return -1
}

// sameTokenOnProtocol finds a successful XOAUTH2 attempt on protocol p for
// the same mailbox with the same access token; -1 if none.
func sameTokenOnProtocol(all []probe.Attempt, i int, p probe.Protocol) int {
	a := &all[i]
	for j := range all {
		b := &all[j]
		if j != i && b.OK && b.Mechanism == probe.XOAUTH2 && b.Protocol == p &&
			strings.EqualFold(b.User, a.User) && sameToken(a.Token, b.Token) {
			return j
		}
	}
	return -1
}

func sameToken(x, y *probe.TokenInfo) bool {
	if x == nil || y == nil || x.Error != "" || y.Error != "" {
		return false
	}
	if x.ExpiresAt.IsZero() && x.AppID == "" && x.ObjectID == "" && x.Audience == "" {
		return false // nothing decoded to compare
	}
	return x.Flow == y.Flow && x.ExpiresAt.Equal(y.ExpiresAt) && x.AppID == y.AppID && x.ObjectID == y.ObjectID &&
		x.Audience == y.Audience && x.UPN == y.UPN && x.TenantID == y.TenantID
}

func refineNotConnected(all []probe.Attempt, i int, v verdict) verdict {
	a := &all[i]
	t := a.Token
	appOnly := t != nil && (t.Flow == "client_credentials" || (len(t.Roles) > 0 && len(t.Scopes) == 0))
	// IMAP and POP need the same mailbox permission (FullAccess for the
	// app's service principal): the same application token opening the
	// mailbox over the other one proves the permission, so the protocol
	// itself is what is off (issue 8: this was reported as
	// oauth_not_authorized, whose fix does not help).
	if a.Mechanism == probe.XOAUTH2 && appOnly && (a.Protocol == probe.IMAP || a.Protocol == probe.POP) {
		other := probe.POP
		if a.Protocol == probe.POP {
			other = probe.IMAP
		}
		if j := sameTokenOnProtocol(all, i, other); j >= 0 {
			v.cause, v.conf = CauseProtocolDisabled, Inferred
			v.ev.add(fmt.Sprintf("the same application token opens this mailbox over %s, which needs the same mailbox permission: the app's permission is fine, and %s is most likely disabled for this mailbox (Set-CasMailbox -%sEnabled)", all[j].Protocol, strings.ToUpper(string(a.Protocol)), protoParam(a.Protocol)),
				fmt.Sprintf("同じアプリケーション トークンで %s からはこのメールボックスを開けており、同じアクセス許可が必要なため、アプリのアクセス許可は正常です。このメールボックスで %s が無効になっている可能性が最も高いです (Set-CasMailbox -%sEnabled)", all[j].Protocol, strings.ToUpper(string(a.Protocol)), protoParam(a.Protocol)))
			return v
		}
	}
	switch {
	case a.Mechanism == probe.XOAUTH2 && t != nil && slices.ContainsFunc(t.Problems, func(p string) bool { return problemCode(p) == probe.ProblemUserMismatch }):
		v.cause, v.conf = CauseOAuthNotAuthorized, Inferred
		v.ev.add("the token belongs to another user than the mailbox logged into, and that user has no access to it",
			"トークンはログイン先のメールボックスとは別のユーザーのもので、そのユーザーにはアクセス権がありません")
	case a.Mechanism == probe.XOAUTH2 && t != nil && (t.Flow == "client_credentials" || (len(t.Roles) > 0 && len(t.Scopes) == 0)):
		v.cause, v.conf = CauseOAuthNotAuthorized, Inferred
		v.ev.add("an application token got in but cannot open the mailbox: the app has no permission on it (Add-MailboxPermission) or its service principal is wrong",
			"アプリケーション トークンで認証できましたがメールボックスを開けません。アプリにこのメールボックスのアクセス許可 (Add-MailboxPermission) がないか、サービス プリンシパルが誤っています")
	case t != nil && a.Mechanism == probe.XOAUTH2 && t.UPN != "" && strings.EqualFold(t.UPN, a.User), a.Mechanism == probe.Basic:
		v.cause, v.conf = CauseProtocolDisabled, Inferred
		v.ev.add(fmt.Sprintf("the mailbox's own user got in, so permissions are not the problem: %s is most likely disabled for this mailbox (Set-CasMailbox -%sEnabled)", strings.ToUpper(string(a.Protocol)), protoParam(a.Protocol)),
			fmt.Sprintf("メールボックス自身のユーザーで認証できているため、アクセス許可は問題ではありません。このメールボックスで %s が無効になっている可能性が最も高いです (Set-CasMailbox -%sEnabled)", strings.ToUpper(string(a.Protocol)), protoParam(a.Protocol)))
	default:
		v.ev.add("no token details to tell them apart; most often the token's user or app has no permission on this mailbox",
			"判別するためのトークン情報がありません。最も多いのは、トークンのユーザーまたはアプリにこのメールボックスへのアクセス許可がない場合です")
	}
	v.ev.add("other reported causes of these words: IMAP disabled for the mailbox, too many connections (throttling), an admin account, a consumer-account service bug (exo-responses I6)",
		"この応答の他の原因として報告されているもの: メールボックスで IMAP が無効、接続数が多すぎる (調整)、管理者アカウント、個人アカウント側のサービス不具合 (exo-responses I6)")
	return v
}

func protoParam(p probe.Protocol) string {
	switch p {
	case probe.POP:
		return "Pop"
	default:
		return "Imap"
	}
}

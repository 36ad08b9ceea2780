// Package report renders the results of `exoprobe check` and
// `exoprobe diagnose` for people (a table, then each finding with its remedy,
// in English or Japanese) and for programs (a JSON document whose field names
// are a stable interface: scripts and dashboards parse it).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/inspect/snapshot"
	"github.com/exoprobe/exoprobe/internal/clip"
	"github.com/exoprobe/exoprobe/probe"
)

// Result is what one target's run produced.
type Result struct {
	Target   string
	Attempts []probe.Attempt
	// Findings are diagnose.Classify(Attempts): one per attempt, same order.
	// New fills them; a caller that classified already may set them.
	Findings []diagnose.Finding
	// Vars fill the remedies' placeholders; Mailbox and User default to each
	// attempt's user, Protocol to the finding's.
	Vars diagnose.Vars
	// Lang is the language of WriteJSON's remedies: "en" (default) or "ja".
	Lang string
	// Transcript adds each attempt's (redacted) conversation.
	Transcript bool
	// Expect is each attempt's expectation, same order as Attempts: "ok"
	// or "fail" (a posture check: Basic must stay off). Missing entries
	// and "" mean "ok".
	Expect []string
	// Tenant is what a tenant read returned (check --tenant-reads), nil
	// without reads: it fills remedies' names and drops fix lines the
	// tenant shows are done. Findings must already carry its evidence
	// (diagnose.ApplyTenant).
	Tenant *snapshot.Snapshot
}

// Expectations of a check.
const (
	ExpectOK   = "ok"
	ExpectFail = "fail"
)

// ExpectAt returns attempt i's expectation, "ok" or "fail".
func (r Result) ExpectAt(i int) string {
	if i < len(r.Expect) && r.Expect[i] == ExpectFail {
		return ExpectFail
	}
	return ExpectOK
}

// AsExpected reports whether attempt i met its expectation: an "ok" check
// that logged in, or a "fail" check refused for a reason that proves its
// posture (diagnose.PostureProof). A "fail" check refused for any other
// reason is Unverified, not as expected.
func (r Result) AsExpected(i int) bool {
	if r.ExpectAt(i) == ExpectFail {
		return !r.Attempts[i].OK && diagnose.PostureProof(r.findingAt(i))
	}
	return r.Attempts[i].OK
}

// Unverified reports whether attempt i is a "fail" check refused for a
// reason that proves nothing about its posture (a missing secret, the
// network, a timeout, a wrong password): nothing was verified.
func (r Result) Unverified(i int) bool {
	return r.ExpectAt(i) == ExpectFail && !r.Attempts[i].OK && !diagnose.PostureProof(r.findingAt(i))
}

// StatusAt is attempt i's standing in the daemon's vocabulary
// (scheduler.Status): "ok", "failing", "unexpectedly_ok" or "unverified".
func (r Result) StatusAt(i int) string {
	switch {
	case r.AsExpected(i):
		return "ok"
	case r.Unverified(i):
		return "unverified"
	case r.Attempts[i].OK:
		return "unexpectedly_ok"
	}
	return "failing"
}

// AllAsExpected reports whether every attempt met its expectation.
func (r Result) AllAsExpected() bool {
	for i := range r.Attempts {
		if !r.AsExpected(i) {
			return false
		}
	}
	return true
}

func (r Result) anyExpectFail() bool {
	for i := range r.Attempts {
		if r.ExpectAt(i) == ExpectFail {
			return true
		}
	}
	return false
}

// New classifies the attempts of one target into a Result.
func New(target string, attempts []probe.Attempt, vars diagnose.Vars) Result {
	return Result{Target: target, Attempts: attempts, Findings: diagnose.Classify(attempts), Vars: vars}
}

// SchemaVersion of Document. 2 added schema itself and durations in
// seconds (duration_seconds, beside the older duration_ms).
const SchemaVersion = 2

// Document is the JSON form. Field names are a stable interface: add
// fields, never rename or remove one.
type Document struct {
	// Schema is the version of this form (SchemaVersion); it grows when
	// fields are added.
	Schema   int          `json:"schema"`
	Target   string       `json:"target"`
	Lang     string       `json:"lang"`
	Attempts []AttemptDoc `json:"attempts"`
	Findings []FindingDoc `json:"findings"`
	// TenantReads: what the tenant read could not read (check
	// --tenant-reads); absent without reads.
	TenantReads *TenantReadsDoc `json:"tenant_reads,omitempty"`
}

// TenantReadsDoc summarises the tenant read behind the findings.
type TenantReadsDoc struct {
	Tenant   string    `json:"tenant"`
	ReadAt   time.Time `json:"read_at"`
	Problems []string  `json:"problems"`
}

func tenantDoc(s *snapshot.Snapshot) *TenantReadsDoc {
	if s == nil {
		return nil
	}
	d := &TenantReadsDoc{Tenant: s.Tenant, ReadAt: s.ReadAt, Problems: []string{}}
	for _, p := range s.Problems {
		d.Problems = append(d.Problems, p.String())
	}
	return d
}

// AttemptDoc is one attempt in the JSON form.
type AttemptDoc struct {
	Protocol   string `json:"protocol"`
	Mechanism  string `json:"mechanism"`
	OK         bool   `json:"ok"`
	Stage      string `json:"stage"`
	Reply      string `json:"reply"`
	DurationMS int64  `json:"duration_ms"`
	// DurationSeconds is the same in seconds, as everywhere else in
	// exoprobe's JSON and metrics; duration_ms stays for old readers.
	DurationSeconds float64  `json:"duration_seconds"`
	Cause           string   `json:"cause"`
	Confidence      string   `json:"confidence"`
	User            string   `json:"user,omitempty"`
	Server          string   `json:"server,omitempty"`
	AuthMethod      string   `json:"auth_method,omitempty"`
	AuthReply       string   `json:"auth_reply,omitempty"`
	Error           string   `json:"error,omitempty"`
	ErrorKind       string   `json:"error_kind,omitempty"`
	TLSVersion      string   `json:"tls_version,omitempty"`
	Transcript      []string `json:"transcript,omitempty"`
	// Expect is the check's expectation ("ok" or "fail"); AsExpected is
	// false when it left it (a failure, or an "expect: fail" check that
	// logged in).
	Expect     string `json:"expect"`
	AsExpected bool   `json:"as_expected"`
	// Status is the standing against the expectation, in the daemon's
	// words: "ok", "failing", "unexpectedly_ok", or "unverified" (an
	// "expect: fail" check refused for a reason that proves nothing).
	Status string `json:"status"`
	// Token is what the probe decoded from the access token's claims (or
	// the token endpoint's refusal); never the token itself. Nil for Basic.
	Token *TokenDoc `json:"token,omitempty"`
	// Capabilities the server listed before and after authentication.
	Capabilities []string `json:"capabilities,omitempty"`
	// Timings per stage, in the order the stages ran.
	Timings []TimingDoc `json:"timings,omitempty"`
}

// TokenDoc is the decoded (unverified) claims of an XOAUTH2 attempt's
// access token and the problems the probe flagged before AUTH, or the token
// endpoint's error. It has no field that could hold the token.
type TokenDoc struct {
	Flow       string    `json:"flow,omitempty"`
	Audience   string    `json:"aud,omitempty"`
	Roles      []string  `json:"roles,omitempty"`
	Scopes     []string  `json:"scp,omitempty"`
	UPN        string    `json:"upn,omitempty"`
	ExpiresAt  time.Time `json:"exp,omitzero"`
	ObjectID   string    `json:"oid,omitempty"`
	AppID      string    `json:"appid,omitempty"`
	TenantID   string    `json:"tid,omitempty"`
	Problems   []string  `json:"problems,omitempty"`
	Error      string    `json:"error,omitempty"`
	ErrorCodes []int     `json:"error_codes,omitempty"`
}

// TimingDoc is one stage's duration.
type TimingDoc struct {
	Stage           string  `json:"stage"`
	DurationMS      float64 `json:"duration_ms"`
	DurationSeconds float64 `json:"duration_seconds"`
}

func tokenDoc(t *probe.TokenInfo) *TokenDoc {
	if t == nil {
		return nil
	}
	return &TokenDoc{
		Flow: t.Flow, Audience: t.Audience, Roles: t.Roles, Scopes: t.Scopes, UPN: t.UPN, ExpiresAt: t.ExpiresAt,
		ObjectID: t.ObjectID, AppID: t.AppID, TenantID: t.TenantID, Problems: t.Problems, Error: t.Error, ErrorCodes: t.ErrorCodes,
	}
}

func timingDocs(ts []probe.StageTiming) []TimingDoc {
	var out []TimingDoc
	for _, st := range ts {
		// Microsecond resolution: loopback stages take well under 1 ms.
		out = append(out, TimingDoc{Stage: string(st.Stage), DurationMS: float64(st.Duration.Microseconds()) / 1000,
			DurationSeconds: st.Duration.Seconds()})
	}
	return out
}

// FindingDoc is the diagnosis of one failed attempt in the JSON form.
type FindingDoc struct {
	Protocol   string          `json:"protocol"`
	Mechanism  string          `json:"mechanism"`
	Cause      string          `json:"cause"`
	Title      string          `json:"title"`
	Confidence string          `json:"confidence"`
	Evidence   []string        `json:"evidence"`
	Remedy     diagnose.Remedy `json:"remedy"`
	// AsExpected marks the refusal of an "expect: fail" check: the remedy
	// is the way back to a state the configuration does not want.
	AsExpected bool `json:"as_expected"`
}

func normLang(lang string) string {
	if strings.HasPrefix(strings.ToLower(lang), "ja") {
		return "ja"
	}
	return "en"
}

// findingAt returns the finding of attempt i, classifying if the caller did
// not.
func (r *Result) findingAt(i int) diagnose.Finding {
	if len(r.Findings) != len(r.Attempts) {
		r.Findings = diagnose.Classify(r.Attempts)
	}
	return r.Findings[i]
}

func (r *Result) varsFor(a probe.Attempt, protocol string) diagnose.Vars {
	v := r.Vars
	if v.Mailbox == "" {
		v.Mailbox = a.User
	}
	if v.User == "" {
		v.User = a.User
	}
	if v.AppID == "" && a.Token != nil {
		v.AppID = a.Token.AppID
	}
	if v.Tenant == "" && a.Token != nil {
		v.Tenant = a.Token.TenantID
	}
	// Only an application token's oid is the service principal's object
	// id (<ObjectId>); a delegated token's is the user's.
	if v.ObjectID == "" && a.Token != nil && a.Token.Flow == "client_credentials" {
		v.ObjectID = a.Token.ObjectID
	}
	v.Protocol = protocol
	if r.Tenant != nil {
		appID := ""
		if a.Token != nil {
			appID = a.Token.AppID
		}
		v = diagnose.TenantVars(r.Tenant, a.User, appID, v)
	}
	return v
}

// remedy is diagnose.RemedyFor, tailored to the tenant when it was read.
func (r *Result) remedy(c diagnose.Cause, lang string, a probe.Attempt, protocol string) diagnose.Remedy {
	rem := diagnose.RemedyFor(c, lang, r.varsFor(a, protocol))
	if r.Tenant != nil && a.Token != nil {
		rem = diagnose.TailorToTenant(rem, c, r.Tenant, a.User, a.Token.AppID)
	}
	return rem
}

func evidenceIn(f diagnose.Finding, lang string) []string {
	if lang == "ja" && len(f.EvidenceJA) == len(f.Evidence) && len(f.EvidenceJA) > 0 {
		return f.EvidenceJA
	}
	if f.Evidence == nil {
		return []string{}
	}
	return f.Evidence
}

// Build makes the JSON document in a language.
func Build(r Result, lang string) Document {
	lang = normLang(lang)
	d := Document{Schema: SchemaVersion, Target: r.Target, Lang: lang, Attempts: []AttemptDoc{}, Findings: []FindingDoc{}, TenantReads: tenantDoc(r.Tenant)}
	for i, a := range r.Attempts {
		f := r.findingAt(i)
		ad := AttemptDoc{
			Protocol: string(a.Protocol), Mechanism: string(a.Mechanism), OK: a.OK, Stage: string(a.Stage),
			Reply: a.Reply, DurationMS: a.Duration.Milliseconds(), DurationSeconds: a.Duration.Seconds(), Cause: string(f.Cause), Confidence: string(f.Confidence),
			User: a.User, Server: a.Server, AuthMethod: a.AuthMethod, AuthReply: a.AuthReply,
			Error: a.Error, ErrorKind: string(a.ErrorKind), TLSVersion: a.TLSVersion,
			Expect: r.ExpectAt(i), AsExpected: r.AsExpected(i), Status: r.StatusAt(i),
			Token: tokenDoc(a.Token), Capabilities: a.Capabilities, Timings: timingDocs(a.Timings),
		}
		if r.Transcript {
			ad.Transcript = a.Transcript
		}
		d.Attempts = append(d.Attempts, ad)
		if a.OK && f.Cause == diagnose.CauseOK {
			continue
		}
		d.Findings = append(d.Findings, FindingDoc{
			Protocol: f.Protocol, Mechanism: f.Mechanism, Cause: string(f.Cause),
			Title: diagnose.Title(f.Cause, lang), Confidence: string(f.Confidence),
			Evidence:   evidenceIn(f, lang),
			Remedy:     r.remedy(f.Cause, lang, a, f.Protocol),
			AsExpected: r.AsExpected(i),
		})
	}
	return d
}

// WriteJSON writes one target's document, in r.Lang.
func WriteJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Build(r, r.Lang)); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// WriteJSONAll writes several targets' documents as one JSON array.
func WriteJSONAll(w io.Writer, rs []Result) error {
	docs := make([]Document, 0, len(rs))
	for _, r := range rs {
		docs = append(docs, Build(r, r.Lang))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(docs); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// labels of the text form.
type labels struct {
	target, protocol, mechanism, result, cause, confidence, time, reply string
	pass, fail                                                          string
	findings, checks, evidence, summary, inspect, fix, steps, caveats   string
	links, transcript, noFindings, noAttempts                           string
	conf                                                                map[string]string
	// Expectations: the EXPECT column, a refusal an "expect: fail" check
	// wanted, and the posture failure of one that logged in.
	expect, failExpected, unexpectedOK, asExpected, postureBasic, postureOAuth string
	// unverified: the RESULT of an "expect: fail" check refused for a
	// reason that proves nothing, and the heading of its block.
	unverified, unverifiedHead string
}

var textLabels = map[string]labels{
	"en": {
		target: "Target", protocol: "PROTOCOL", mechanism: "MECHANISM", result: "RESULT", cause: "CAUSE",
		confidence: "CONFIDENCE", time: "TIME", reply: "SERVER SAID",
		pass: "ok", fail: "FAIL",
		findings: "Findings", checks: "Checks", evidence: "Evidence", summary: "What it means",
		inspect: "Inspect (PowerShell)", fix: "Fix (PowerShell)", steps: "Steps", caveats: "Caveats",
		links: "Links", transcript: "Transcript", noFindings: "No problems found.", noAttempts: "No checks ran.",
		conf:   map[string]string{"definitive": "definitive", "inferred": "inferred", "unsure": "unsure"},
		expect: "EXPECT", failExpected: "fail (expected)", unexpectedOK: "UNEXPECTEDLY OK",
		asExpected:   "Refused as expected (expect: fail), nothing to do",
		postureBasic: "The password (Basic) login succeeded, but the configuration expects it to fail: Basic authentication is on for this mailbox and protocol. Check which authentication policy applies and why it allows Basic:",
		postureOAuth: "The login succeeded, but the configuration expects it to fail: find out who granted this access, or correct the expectation.",
		unverified:   "UNVERIFIED", unverifiedHead: "POSTURE UNVERIFIED",
	},
	"ja": {
		target: "対象", protocol: "プロトコル", mechanism: "方式", result: "結果", cause: "原因",
		confidence: "確度", time: "時間", reply: "サーバーの応答",
		pass: "成功", fail: "失敗",
		findings: "診断結果", checks: "チェック", evidence: "根拠", summary: "意味",
		inspect: "確認 (PowerShell)", fix: "修正 (PowerShell)", steps: "手順", caveats: "注意事項",
		links: "リンク", transcript: "通信記録", noFindings: "問題は見つかりませんでした。", noAttempts: "チェックは実行されませんでした。",
		conf:   map[string]string{"definitive": "確定", "inferred": "推定", "unsure": "不明"},
		expect: "想定", failExpected: "失敗 (想定どおり)", unexpectedOK: "想定外の成功",
		asExpected:   "想定どおり拒否されました (expect: fail)。対処は不要です",
		postureBasic: "パスワード (基本認証) でのログインが成功しましたが、設定では失敗が想定されています。このメールボックスとプロトコルで基本認証が有効になっています。適用されている認証ポリシーと、基本認証を許可している理由を確認してください:",
		postureOAuth: "ログインが成功しましたが、設定では失敗が想定されています。このアクセスを許可したのは誰かを確認するか、想定を修正してください。",
		unverified:   "未検証", unverifiedHead: "ポスチャ未検証",
	},
}

// WriteText writes the table and then one block per cause found, with the
// remedy once per cause even when several checks share it.
func WriteText(w io.Writer, r Result, lang string) error {
	lang = normLang(lang)
	L := textLabels[lang]
	ew := &errWriter{w: NewInertWriter(w)}
	if r.Target != "" {
		fmt.Fprintf(ew, "%s: %s\n", L.target, Inert(r.Target))
	}
	if len(r.Attempts) == 0 {
		fmt.Fprintln(ew, L.noAttempts)
		return ew.err
	}
	// The EXPECT column appears only where a posture check makes it
	// informative, so the everyday table stays as it was.
	withExpect := r.anyExpectFail()
	head := []string{L.protocol, L.mechanism}
	if withExpect {
		head = append(head, L.expect)
	}
	rows := [][]string{append(head, L.result, L.cause, L.confidence, L.time, L.reply)}
	for i, a := range r.Attempts {
		f := r.findingAt(i)
		res := L.pass
		switch {
		case r.ExpectAt(i) == ExpectFail && a.OK:
			res = L.unexpectedOK
		case r.Unverified(i):
			res = L.unverified
		case r.ExpectAt(i) == ExpectFail:
			res = L.failExpected
		case !a.OK:
			res = L.fail
		}
		said := diagnose.StripNoise(a.Reply)
		if said == "" && a.Error != "" {
			said = "(" + a.Error + ")"
		}
		row := []string{string(a.Protocol), orDash(string(a.Mechanism))}
		if withExpect {
			row = append(row, r.ExpectAt(i))
		}
		rows = append(rows, append(row, res, string(f.Cause),
			L.conf[string(f.Confidence)], fmtDuration(a.Duration), replyCell(said, 80)))
	}
	writeTable(ew, rows)

	// Group failed attempts by cause, in first-seen order.
	type group struct {
		cause diagnose.Cause
		idx   []int
	}
	var groups []*group
	byCause := map[diagnose.Cause]*group{}
	var expectedRefusals, unexpectedOK, unverified []int
	for i, a := range r.Attempts {
		f := r.findingAt(i)
		if r.Unverified(i) {
			// Refused, but for a reason that proves nothing: say so, and
			// offer the remedy of that reason (a local fault, the
			// network), which never enables Basic.
			unverified = append(unverified, i)
			if diagnose.ProvesPosture(f.Cause) {
				// Weakly inferred: its cause's remedy would turn Basic
				// on; the unverified text says what would prove it.
				continue
			}
		} else if r.ExpectAt(i) == ExpectFail {
			// A posture check: its refusal is the wanted state, so the
			// remedy (which would undo it) is not offered.
			if a.OK {
				unexpectedOK = append(unexpectedOK, i)
			} else {
				expectedRefusals = append(expectedRefusals, i)
			}
			continue
		}
		if a.OK && f.Cause == diagnose.CauseOK {
			continue
		}
		g := byCause[f.Cause]
		if g == nil {
			g = &group{cause: f.Cause}
			byCause[f.Cause] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	fmt.Fprintln(ew)
	if len(groups) == 0 && len(unexpectedOK) == 0 && len(unverified) == 0 {
		fmt.Fprintln(ew, L.noFindings)
	}
	for _, i := range unverified {
		c := r.findingAt(i).Cause
		text := diagnose.PostureUnverifiedText(c, lang)
		if diagnose.ProvesPosture(c) { // weakly inferred: say what would prove it
			text += " " + diagnose.PostureUnverifiedRemedy(c, lang, r.varsFor(r.Attempts[i], string(r.Attempts[i].Protocol))).Summary
		}
		fmt.Fprintf(ew, "== %s: %s (expect: fail)\n  %s\n\n", L.unverifiedHead, checkName(r.Attempts[i]), text)
	}
	for _, i := range unexpectedOK {
		a := r.Attempts[i]
		fmt.Fprintf(ew, "== %s: %s (expect: fail)\n", L.unexpectedOK, checkName(a))
		if a.Mechanism == probe.Basic {
			fmt.Fprintf(ew, "  %s\n", L.postureBasic)
			rem := r.remedy(diagnose.CauseBasicAuthDisabled, lang, a, string(a.Protocol))
			writeList(ew, L.inspect, rem.Inspect, "  PS> ")
		} else {
			fmt.Fprintf(ew, "  %s\n", L.postureOAuth)
		}
		fmt.Fprintln(ew)
	}
	for _, g := range groups {
		var checks, protos []string
		for _, i := range g.idx {
			a := r.Attempts[i]
			checks = append(checks, checkName(a))
			if !slices.Contains(protos, string(a.Protocol)) {
				protos = append(protos, string(a.Protocol))
			}
		}
		proto := strings.Join(protos, ",")
		fmt.Fprintf(ew, "== %s: %s (%s)\n", g.cause, diagnose.Title(g.cause, lang), strings.Join(checks, ", "))
		fmt.Fprintf(ew, "%s:\n", L.evidence)
		for _, i := range g.idx {
			f := r.findingAt(i)
			a := r.Attempts[i]
			fmt.Fprintf(ew, "  %s [%s]\n", checkName(a), L.conf[string(f.Confidence)])
			for _, e := range evidenceIn(f, lang) {
				fmt.Fprintf(ew, "    - %s\n", Inert(e))
			}
		}
		rem := r.remedy(g.cause, lang, r.Attempts[g.idx[0]], proto)
		fmt.Fprintf(ew, "%s:\n  %s\n", L.summary, rem.Summary)
		writeList(ew, L.inspect, rem.Inspect, "  PS> ")
		writeList(ew, L.fix, rem.Fix, "  PS> ")
		writeList(ew, L.steps, rem.Steps, "  - ")
		writeList(ew, L.caveats, rem.Caveats, "  - ")
		writeList(ew, L.links, rem.Links, "  ")
		fmt.Fprintln(ew)
	}
	if len(expectedRefusals) > 0 {
		var checks []string
		for _, i := range expectedRefusals {
			checks = append(checks, checkName(r.Attempts[i])+" ("+string(r.findingAt(i).Cause)+")")
		}
		fmt.Fprintf(ew, "%s: %s\n", L.asExpected, strings.Join(checks, ", "))
	}
	if r.Transcript {
		fmt.Fprintf(ew, "%s\n", L.transcript)
		for _, a := range r.Attempts {
			fmt.Fprintf(ew, "-- %s %s\n", checkName(a), Inert(a.Server))
			writeTokenClaims(ew, a.Token, lang)
			for _, l := range a.Transcript {
				fmt.Fprintf(ew, "  %s\n", Inert(l))
			}
		}
	}
	if td := tenantDoc(r.Tenant); td != nil && len(td.Problems) > 0 {
		fmt.Fprintf(ew, "\nTenant reads (%s): some settings could not be read; the findings use what was read\n", td.Tenant)
		for _, p := range td.Problems {
			fmt.Fprintf(ew, "  %s\n", p)
		}
	}
	return ew.err
}

// writeTokenClaims prints what the probe decoded from the access token (the
// claims the remedies tell the reader to look at), never the token.
func writeTokenClaims(w io.Writer, t *probe.TokenInfo, lang string) {
	if t == nil {
		return
	}
	label := map[string][2]string{"en": {"token claims", "token problems"}, "ja": {"トークンのクレーム", "トークンの問題"}}[lang]
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("flow", t.Flow)
	add("aud", t.Audience)
	if len(t.Roles) > 0 {
		add("roles", strings.Join(t.Roles, ","))
	}
	if len(t.Scopes) > 0 {
		add("scp", strings.Join(t.Scopes, " "))
	}
	add("upn", t.UPN)
	if !t.ExpiresAt.IsZero() {
		add("exp", t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	add("oid", t.ObjectID)
	add("appid", t.AppID)
	add("tid", t.TenantID)
	add("error", t.Error)
	if len(t.ErrorCodes) > 0 {
		codes := make([]string, len(t.ErrorCodes))
		for i, c := range t.ErrorCodes {
			codes[i] = fmt.Sprintf("AADSTS%d", c)
		}
		add("error_codes", strings.Join(codes, ","))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  %s: %s\n", label[0], Inert(strings.Join(parts, " ")))
	}
	for _, p := range t.Problems {
		fmt.Fprintf(w, "  %s: %s\n", label[1], Inert(p))
	}
}

func checkName(a probe.Attempt) string {
	if a.Mechanism == "" {
		return string(a.Protocol)
	}
	return string(a.Protocol) + "/" + string(a.Mechanism)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeList(w io.Writer, head string, items []string, prefix string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", head)
	for _, it := range items {
		fmt.Fprintf(w, "%s%s\n", prefix, it)
	}
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}

// visitURL is the "Visit https://... for more information." sentence
// Exchange appends to its 5.7.139 replies: the same for every cause.
var visitURL = regexp.MustCompile(`\s*Visit https?://\S+ for more information\.?`)

// replyCell fits a server reply into the table's column. The words that
// tell replies apart are often at the end ("... is disabled for the
// Tenant." vs "... for the Mailbox."), so the shared boilerplate goes first
// and then the middle, keeping the status code at the head and the
// distinguishing tail.
func replyCell(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if t := strings.TrimSpace(visitURL.ReplaceAllString(s, "")); t != "" {
		s = t
	}
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	head := (n - 1) / 2
	tail := n - 1 - head
	out := strings.TrimRight(string(rs[:head]), " ") + "…" + strings.TrimLeft(string(rs[len(rs)-tail:]), " ")
	if len(clip.Missing(s, out)) > 0 {
		// A code sat in the cut middle (an AADSTS code after a long
		// prefix): keep the head and every code instead of the tail.
		return clip.Keep(s, n)
	}
	return out
}

// errWriter keeps the first write error so the many Fprintf calls need no
// checks of their own.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// WriteExplain writes one cause's title, meaning and full remedy (for
// `exoprobe explain`); placeholders not in vars stay as <placeholders>.
func WriteExplain(w io.Writer, c diagnose.Cause, lang string, vars diagnose.Vars) error {
	lang = normLang(lang)
	L := textLabels[lang]
	ew := &errWriter{w: NewInertWriter(w)}
	rem := diagnose.RemedyFor(c, lang, vars)
	fmt.Fprintf(ew, "%s: %s\n", c, diagnose.Title(c, lang))
	fmt.Fprintf(ew, "%s:\n  %s\n", L.summary, rem.Summary)
	writeList(ew, L.inspect, rem.Inspect, "  PS> ")
	writeList(ew, L.fix, rem.Fix, "  PS> ")
	writeList(ew, L.steps, rem.Steps, "  - ")
	writeList(ew, L.caveats, rem.Caveats, "  - ")
	writeList(ew, L.links, rem.Links, "  ")
	return ew.err
}

// WriteCauseList writes the catalog, one cause id and title per line.
func WriteCauseList(w io.Writer, lang string) error {
	lang = normLang(lang)
	ew := &errWriter{w: NewInertWriter(w)}
	var rows [][]string
	for _, c := range diagnose.Causes() {
		rows = append(rows, []string{string(c), diagnose.Title(c, lang)})
	}
	writeTable(ew, rows)
	return ew.err
}

// writeTable pads columns by display width: text/tabwriter counts runes, and
// a Japanese character takes two columns on a terminal.
func writeTable(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// displayWidth counts East Asian wide and fullwidth characters as two
// columns.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0x303E, r >= 0x3041 && r <= 0x33FF,
			r >= 0x3400 && r <= 0x4DBF, r >= 0x4E00 && r <= 0x9FFF, r >= 0xA000 && r <= 0xA4CF,
			r >= 0xAC00 && r <= 0xD7A3, r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F,
			r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6:
			n += 2
		default:
			n++
		}
	}
	return n
}

package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

func sample() Result {
	attempts := []probe.Attempt{
		{Target: "scanner", User: "scanner@contoso.com", Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: probe.StageAuth,
			Reply: "a1 NO Basic authentication is disabled.", Duration: 1200 * time.Millisecond, ErrorKind: probe.ErrRefused,
			Transcript: []string{"S: * OK The Microsoft Exchange IMAP4 service is ready.", "C: a1 LOGIN scanner@contoso.com ********"}},
		{Target: "scanner", User: "scanner@contoso.com", Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageDone, OK: true,
			Duration: 300 * time.Millisecond},
		{Target: "scanner", User: "scanner@contoso.com", Protocol: probe.SMTP, Mechanism: probe.Basic, Stage: probe.StageAuth,
			Reply:    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]",
			Duration: 5 * time.Second, ErrorKind: probe.ErrRefused},
		{Target: "scanner", User: "scanner@contoso.com", Protocol: probe.POP, Mechanism: probe.Basic, Stage: probe.StageAuth,
			Reply: "-ERR Basic authentication is disabled", Duration: 900 * time.Millisecond, ErrorKind: probe.ErrRefused},
	}
	return New("scanner", attempts, diagnose.Vars{Policy: "Block Basic"})
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// The JSON field names are an interface: this test pins them.
func TestJSONSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if got := keys(doc); !slices.Equal(got, []string{"attempts", "findings", "lang", "schema", "target"}) {
		t.Errorf("top-level keys %v", got)
	}
	if doc["schema"] != float64(SchemaVersion) {
		t.Errorf("schema %v, want %d", doc["schema"], SchemaVersion)
	}
	if doc["target"] != "scanner" || doc["lang"] != "en" {
		t.Errorf("target/lang: %v %v", doc["target"], doc["lang"])
	}
	atts := doc["attempts"].([]any)
	if len(atts) != 4 {
		t.Fatalf("%d attempts", len(atts))
	}
	a0 := atts[0].(map[string]any)
	for _, k := range []string{"protocol", "mechanism", "ok", "stage", "reply", "duration_ms", "cause", "confidence"} {
		if _, ok := a0[k]; !ok {
			t.Errorf("attempt lacks %q: %v", k, keys(a0))
		}
	}
	if a0["duration_seconds"].(float64) != 1.2 {
		t.Errorf("duration_seconds %v, want 1.2", a0["duration_seconds"])
	}
	if a0["duration_ms"].(float64) != 1200 || a0["cause"] != "basic_auth_disabled" || a0["confidence"] != "definitive" || a0["ok"] != false {
		t.Errorf("attempt 0: %v", a0)
	}
	if _, ok := a0["transcript"]; ok {
		t.Errorf("transcript present without --transcript")
	}
	a1 := atts[1].(map[string]any)
	if a1["ok"] != true || a1["cause"] != "ok" || a1["reply"] != "" {
		t.Errorf("attempt 1: %v", a1)
	}
	fs := doc["findings"].([]any)
	if len(fs) != 3 {
		t.Fatalf("%d findings, want 3 (the OK attempt has none)", len(fs))
	}
	f0 := fs[0].(map[string]any)
	for _, k := range []string{"protocol", "mechanism", "cause", "confidence", "evidence", "remedy", "title"} {
		if _, ok := f0[k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	rem := f0["remedy"].(map[string]any)
	for _, k := range []string{"summary", "inspect", "fix", "caveats", "links"} {
		if _, ok := rem[k]; !ok {
			t.Errorf("remedy lacks %q", k)
		}
	}
	fix := rem["fix"].([]any)
	if fix[0] != "Set-AuthenticationPolicy -Identity 'Block Basic' -AllowBasicAuthImap" ||
		fix[1] != "Set-User -Identity scanner@contoso.com -STSRefreshTokensValidFrom $([System.DateTime]::UtcNow)" {
		t.Errorf("fix lines not filled: %v", fix)
	}
	// Arrays are arrays even when empty.
	f1 := fs[1].(map[string]any)["remedy"].(map[string]any)
	if f1["fix"] == nil || f1["links"] == nil {
		t.Errorf("null arrays in remedy: %v", f1)
	}
	// The document round-trips into the exported type.
	var d Document
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil || d.Findings[1].Cause != "smtp_auth_disabled_tenant" {
		t.Errorf("Document round trip: %v %+v", err, d.Findings)
	}
}

func TestJSONTranscriptAndLang(t *testing.T) {
	r := sample()
	r.Transcript, r.Lang = true, "ja"
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var d Document
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Lang != "ja" || len(d.Attempts[0].Transcript) != 2 {
		t.Errorf("lang %q transcript %q", d.Lang, d.Attempts[0].Transcript)
	}
	if !strings.Contains(d.Findings[0].Remedy.Summary, "基本認証") || !strings.Contains(d.Findings[0].Evidence[0], "サーバーの応答") {
		t.Errorf("ja finding: %+v", d.Findings[0])
	}
}

func TestWriteJSONAll(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSONAll(&buf, []Result{sample(), sample()}); err != nil {
		t.Fatal(err)
	}
	var ds []Document
	if err := json.Unmarshal(buf.Bytes(), &ds); err != nil || len(ds) != 2 {
		t.Fatalf("%v %d", err, len(ds))
	}
}

func TestTextEnglish(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, sample(), "en"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Target: scanner",
		"PROTOCOL", "SERVER SAID",
		"imap      basic      FAIL",
		"NO Basic authentication is disabled.",
		// the bracket is not shown in the table
		"SmtpClientAuthentication is disabled f",
		"== basic_auth_disabled: Basic authentication is disabled (imap/basic, pop/basic)",
		"PS> Set-AuthenticationPolicy -Identity 'Block Basic' -AllowBasicAuthPop -AllowBasicAuthImap",
		// The mailbox's own exception; the organization's switch is a step.
		"PS> Set-CasMailbox scanner@contoso.com -SmtpClientAuthenticationDisabled $False",
		"Set-TransportConfig -SmtpClientAuthenticationDisabled $False",
		"permanently retired",
		"1.2s", "300ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "TY1PR01CA0183") {
		t.Errorf("table shows the host bracket")
	}
	block := out[strings.Index(out, "== basic_auth_disabled"):strings.Index(out, "== smtp_auth_disabled_tenant")]
	if !strings.Contains(block, "permanently retired") || strings.Contains(block, "December 2026") {
		t.Errorf("the imap+pop block should carry the IMAP/POP caveat only:\n%s", block)
	}
	if strings.Count(out, "Set-AuthenticationPolicy -Identity") != 1 {
		t.Errorf("the remedy of a cause shared by two checks should print once")
	}
	if strings.Contains(out, "Transcript") {
		t.Errorf("transcript without asking")
	}
}

func TestTextJapaneseIsComplete(t *testing.T) {
	r := sample()
	r.Transcript = true
	var buf bytes.Buffer
	if err := WriteText(&buf, r, "ja"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"対象: scanner", "プロトコル", "方式", "結果", "原因", "確度", "サーバーの応答", "失敗", "成功", "根拠", "意味", "確認 (PowerShell)", "修正 (PowerShell)", "注意事項", "リンク", "通信記録", "確定", "基本認証が無効"} {
		if !strings.Contains(out, want) {
			t.Errorf("ja text lacks %q", want)
		}
	}
	for _, en := range []string{"PROTOCOL", "Evidence", "What it means", "Inspect", "Caveats", "Links:", "FAIL", "definitive", "the server said"} {
		if strings.Contains(out, en) {
			t.Errorf("ja text has English %q\n%s", en, out)
		}
	}
}

func TestTextNoFindings(t *testing.T) {
	r := New("t", []probe.Attempt{{Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, OK: true, Stage: probe.StageDone}}, diagnose.Vars{})
	var buf bytes.Buffer
	if err := WriteText(&buf, r, "en"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No problems found.") {
		t.Errorf("%s", buf.String())
	}
}

func TestExplainAndList(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteExplain(&buf, diagnose.CauseSMTPAuthDisabledMbx, "en", diagnose.Vars{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "PS> Set-CasMailbox <mailbox> -SmtpClientAuthenticationDisabled $False") {
		t.Errorf("%s", buf.String())
	}
	buf.Reset()
	if err := WriteCauseList(&buf, "ja"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(diagnose.Causes()) || !strings.HasPrefix(lines[0], "ok") || !strings.Contains(buf.String(), "アカウントのロック") {
		t.Errorf("%s", buf.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

var errWrite = &json.UnsupportedValueError{Str: "write failed"}

func TestWriteErrorsReported(t *testing.T) {
	if err := WriteText(failWriter{}, sample(), "en"); err == nil {
		t.Error("WriteText hid a write error")
	}
	if err := WriteJSON(failWriter{}, sample()); err == nil {
		t.Error("WriteJSON hid a write error")
	}
}

// An "expect: fail" check: its refusal is as expected (no remedy offered in
// text), its success is a posture failure named in the table and in JSON.
func TestExpectations(t *testing.T) {
	attempts := []probe.Attempt{
		{Target: "s", User: "s@contoso.com", Protocol: probe.IMAP, Mechanism: probe.Basic, Stage: probe.StageAuth,
			Reply: "a1 NO Basic authentication is disabled.", ErrorKind: probe.ErrRefused},
		{Target: "s", User: "s@contoso.com", Protocol: probe.POP, Mechanism: probe.Basic, Stage: probe.StageDone, OK: true},
		{Target: "s", User: "s@contoso.com", Protocol: probe.SMTP, Mechanism: probe.Basic, Stage: probe.StageDone, OK: true},
	}
	r := New("s", attempts, diagnose.Vars{Policy: "Allow SMTP Basic"})
	r.Expect = []string{ExpectFail, ExpectFail} // the third defaults to ok
	if r.AsExpected(0) != true || r.AsExpected(1) != false || r.AsExpected(2) != true || r.AllAsExpected() {
		t.Fatalf("as expected: %v %v %v all %v", r.AsExpected(0), r.AsExpected(1), r.AsExpected(2), r.AllAsExpected())
	}

	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Attempts []struct {
			Expect     *string `json:"expect"`
			AsExpected *bool   `json:"as_expected"`
		} `json:"attempts"`
		Findings []struct {
			Cause      string `json:"cause"`
			AsExpected *bool  `json:"as_expected"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		exp string
		as  bool
	}{{"fail", true}, {"fail", false}, {"ok", true}}
	for i, w := range want {
		a := doc.Attempts[i]
		if a.Expect == nil || a.AsExpected == nil || *a.Expect != w.exp || *a.AsExpected != w.as {
			t.Errorf("attempt %d: expect/as_expected missing or wrong in %s", i, buf.String())
		}
	}
	if len(doc.Findings) != 1 || doc.Findings[0].Cause != "basic_auth_disabled" || doc.Findings[0].AsExpected == nil || !*doc.Findings[0].AsExpected {
		t.Errorf("findings: %s", buf.String())
	}

	for _, c := range []struct{ lang, unexpected, expected, inspect string }{
		{"en", "UNEXPECTEDLY OK", "fail (expected)", "Get-AuthenticationPolicy -Identity 'Allow SMTP Basic'"},
		{"ja", "想定外の成功", "失敗 (想定どおり)", "Get-AuthenticationPolicy -Identity 'Allow SMTP Basic'"},
	} {
		buf.Reset()
		if err := WriteText(&buf, r, c.lang); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, s := range []string{c.unexpected, c.expected, "pop/basic (expect: fail)", c.inspect} {
			if !strings.Contains(out, s) {
				t.Errorf("%s: text lacks %q:\n%s", c.lang, s, out)
			}
		}
		// The refusal wanted by the posture check gets no fix that would
		// turn Basic back on.
		if strings.Contains(out, "Set-AuthenticationPolicy") {
			t.Errorf("%s: remedy offered for an expected refusal:\n%s", c.lang, out)
		}
	}

	// Without posture checks the table keeps its columns.
	buf.Reset()
	if err := WriteText(&buf, sample(), "en"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "EXPECT") {
		t.Errorf("EXPECT column without posture checks:\n%s", buf.String())
	}
}

// <ObjectId> comes from an application token's oid, never from a delegated
// token's (that is the user's object id).
func TestObjectIDFromAppToken(t *testing.T) {
	for _, c := range []struct {
		flow, want string
	}{
		{"client_credentials", "New-ServicePrincipal -AppId app-1 -ObjectId sp-oid-1"},
		{"refresh_token", "New-ServicePrincipal -AppId app-1 -ObjectId <ObjectId>"},
	} {
		a := probe.Attempt{Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageAuth, User: "a@b",
			Token: &probe.TokenInfo{Flow: c.flow, AppID: "app-1", ObjectID: "sp-oid-1"}}
		r := Result{Target: "a@b", Attempts: []probe.Attempt{a},
			Findings: []diagnose.Finding{{Cause: diagnose.CauseOAuthNotAuthorized, Protocol: "imap", Mechanism: "xoauth2"}}}
		d := Build(r, "en")
		if len(d.Findings) != 1 || len(d.Findings[0].Remedy.Fix) == 0 || d.Findings[0].Remedy.Fix[0] != c.want {
			t.Errorf("%s: fix = %+v, want first line %q", c.flow, d.Findings, c.want)
		}
	}
}

// A reply shortened for its column keeps its error code, even one in the
// middle the head-and-tail cut would drop.
func TestReplyCellKeepsCode(t *testing.T) {
	s := "token request failed: invalid_client: " + strings.Repeat("the application could not be authenticated ", 4) +
		"AADSTS7000215: Invalid client secret provided. " + strings.Repeat("Ensure the secret being sent is correct ", 4)
	got := replyCell(s, 90)
	if !strings.Contains(got, "AADSTS7000215") || utf8.RuneCountInString(got) > 90 {
		t.Errorf("replyCell = %q", got)
	}
}

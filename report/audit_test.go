package report

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
)

// The Tenant and Mailbox replies (corpus S4, S6) differ only at their end:
// the table's cell must keep that end, so the two rows read differently.
func TestReplyCellKeepsDistinguishingEnd(t *testing.T) {
	s4 := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]"
	s6 := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information."
	mk := func(user, reply string) probe.Attempt {
		return probe.Attempt{User: user, Protocol: probe.SMTP, Mechanism: probe.Basic, Stage: probe.StageAuth,
			Reply: reply, ErrorKind: probe.ErrRefused, Duration: time.Second}
	}
	for _, c := range []struct{ reply, want string }{{s4, "for the Tenant."}, {s6, "for the Mailbox."}} {
		var buf bytes.Buffer
		if err := WriteText(&buf, New("t", []probe.Attempt{mk("a@contoso.com", c.reply)}, diagnose.Vars{}), "en"); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(buf.String(), "\n")
		var row string
		for _, l := range lines {
			if strings.HasPrefix(l, "smtp ") {
				row = l
			}
		}
		if !strings.Contains(row, c.want) || !strings.Contains(row, "535 5.7.139") {
			t.Errorf("table row lacks %q or the status code:\n%s", c.want, row)
		}
	}
	for _, in := range []string{s4, strings.Repeat("x", 200)} {
		if got := replyCell(in, 80); utf8.RuneCountInString(got) > 80 {
			t.Errorf("replyCell(%q) is %d runes", in, utf8.RuneCountInString(got))
		}
	}
	if got := replyCell("short reply", 80); got != "short reply" {
		t.Errorf("short: %q", got)
	}
}

// The decoded claims, capabilities and stage timings are in the JSON and,
// with --transcript, the claims in the text; the access token itself (or
// any of its three parts) never is.
func TestTokenClaimsShownTokenNever(t *testing.T) {
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	exp := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	payload := fmt.Sprintf(`{"aud":"https://graph.microsoft.com","upn":"other@contoso.com","oid":"oid-1","appid":"app-1","tid":"tid-1","scp":"Mail.Read","exp":%d,"canary":"Tok3nCanary"}`, exp.Unix())
	sig := enc("sig-Tok3nCanary")
	raw := enc(`{"alg":"none","typ":"JWT"}`) + "." + enc(payload) + "." + sig
	info := probe.Inspect(probe.Token{AccessToken: raw, Flow: "refresh_token", ExpiresAt: exp}, probe.IMAP, "a@contoso.com", exp.Add(-time.Hour))
	a := probe.Attempt{User: "a@contoso.com", Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Stage: probe.StageAuth,
		Reply: "a1 NO AUTHENTICATE failed.", ErrorKind: probe.ErrRefused, Token: info,
		Capabilities: []string{"IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR"},
		Timings:      []probe.StageTiming{{Stage: probe.StageConnect, Duration: 1500 * time.Microsecond}, {Stage: probe.StageAuth, Duration: 2 * time.Second}},
		Transcript:   []string{"C: a1 AUTHENTICATE XOAUTH2 ****", "S: a1 NO AUTHENTICATE failed."}}
	r := New("t", []probe.Attempt{a}, diagnose.Vars{})
	r.Transcript = true

	var js, txt bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&txt, r, "en"); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"json": js.String(), "text": txt.String()} {
		for _, secret := range []string{raw, enc(payload), sig, "Tok3nCanary"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output holds the token (or a part of it)", name)
			}
		}
	}
	var d struct {
		Attempts []struct {
			Token *struct {
				Aud      string   `json:"aud"`
				UPN      string   `json:"upn"`
				Scp      []string `json:"scp"`
				Exp      string   `json:"exp"`
				OID      string   `json:"oid"`
				AppID    string   `json:"appid"`
				Problems []string `json:"problems"`
			} `json:"token"`
			Capabilities []string `json:"capabilities"`
			Timings      []struct {
				Stage      string  `json:"stage"`
				DurationMS float64 `json:"duration_ms"`
			} `json:"timings"`
		} `json:"attempts"`
	}
	if err := json.Unmarshal(js.Bytes(), &d); err != nil || len(d.Attempts) != 1 {
		t.Fatalf("%v\n%s", err, js.String())
	}
	ad := d.Attempts[0]
	if ad.Token == nil || ad.Token.Aud != "https://graph.microsoft.com" || ad.Token.UPN != "other@contoso.com" || ad.Token.OID != "oid-1" ||
		ad.Token.AppID != "app-1" || len(ad.Token.Scp) != 1 || ad.Token.Exp != "2026-12-01T12:00:00Z" || len(ad.Token.Problems) == 0 {
		t.Errorf("token claims in JSON: %+v", ad.Token)
	}
	if len(ad.Capabilities) != 1 || len(ad.Timings) != 2 || ad.Timings[0].Stage != "connect" || ad.Timings[0].DurationMS != 1.5 {
		t.Errorf("capabilities %q timings %+v", ad.Capabilities, ad.Timings)
	}
	for _, want := range []string{"token claims: flow=refresh_token aud=https://graph.microsoft.com scp=Mail.Read upn=other@contoso.com exp=2026-12-01T12:00:00Z oid=oid-1 appid=app-1", "token problems: aud_graph"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("--transcript text lacks %q\n%s", want, txt.String())
		}
	}
	// Without --transcript the text stays as it was.
	r.Transcript = false
	txt.Reset()
	if err := WriteText(&txt, r, "en"); err != nil || strings.Contains(txt.String(), "token claims: flow=") {
		t.Errorf("claims printed without --transcript:\n%s", txt.String())
	}
}

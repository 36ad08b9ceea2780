package alerts

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The remedy reaches every sink whole: its own summary (not the
// notification's), its steps under their own heading, and its links; and
// the webhook's remedy lists are [] when empty, never null.
func TestRemedyReachesEverySink(t *testing.T) {
	n := sample()
	u := n.Firing[0].User
	want := diagnose.RemedyFor(diagnose.CauseSMTPAuthDisabledTenant, "en", diagnose.Vars{Mailbox: u, User: u,
		Protocol: "smtp", Tenant: n.Scope})
	if want.Summary == "" || len(want.Links) == 0 || len(want.Steps) == 0 {
		t.Fatalf("the fixture's remedy lacks summary, links or steps: %+v", want)
	}

	// Webhook.
	p := (&Webhook{Name: "w"}).Payload(&n)
	if p.Remedy == nil || p.Remedy.Summary != want.Summary || p.Remedy.Summary == p.Notification.Firing[0].Reply ||
		strings.Join(p.Remedy.Links, " ") != strings.Join(want.Links, " ") || len(p.Remedy.Steps) != len(want.Steps) {
		t.Errorf("webhook remedy: %+v", p.Remedy)
	}
	if c := Render(&n, "en"); p.Remedy.Summary == c.Summary {
		t.Errorf("webhook remedy.summary is the notification summary %q", c.Summary)
	}
	// A remedy without steps (the posture one): steps is [], not null.
	post := Notification{ID: "x", Kind: scheduler.EventUnexpectedlyOK, Status: StatusFiring,
		Problem: string(scheduler.EventUnexpectedlyOK), Scope: "contoso.com", Time: time.Now(),
		Firing: []Member{memberOf(event(scheduler.EventUnexpectedlyOK, "b@contoso.com", probe.IMAP, diagnose.CauseOK, diagnose.CauseBasicAuthDisabled))}}
	for _, nn := range []Notification{n, post} {
		b, err := json.Marshal((&Webhook{Name: "w"}).Payload(&nn))
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"firing", "resolved"} {
			if _, ok := raw[k].([]any); !ok {
				t.Errorf("%s: %s is %v, want an array", nn.Kind, k, raw[k])
			}
		}
		rem, _ := raw["remedy"].(map[string]any)
		for _, k := range []string{"inspect", "fix", "steps", "caveats", "links"} {
			if _, ok := rem[k].([]any); !ok {
				t.Errorf("%s: remedy.%s is %v, want an array", nn.Kind, k, rem[k])
			}
		}
	}

	// Text (email, webhook text) and Slack.
	c := Render(&n, "en")
	text := c.Text()
	slack := c.Markdown()
	for _, s := range []struct{ name, body string }{{"text", text}, {"slack", slack}} {
		if !strings.Contains(s.body, want.Summary) || !strings.Contains(s.body, want.Links[0]) {
			t.Errorf("%s lacks the remedy summary or links:\n%s", s.name, s.body)
		}
		if !strings.Contains(s.body, "Steps:") {
			t.Errorf("%s has no Steps heading:\n%s", s.name, s.body)
		}
	}

	// Teams: steps under "Steps", caveats under "Caveats", links present.
	card := TeamsPayload(&n, "en")["attachments"].([]map[string]any)[0]["content"].(map[string]any)
	body := card["body"].([]map[string]any)
	under := map[string]string{}
	for i := 0; i+1 < len(body); i++ {
		if body[i]["weight"] == "Bolder" && body[i]["style"] == nil {
			under[body[i]["text"].(string)], _ = body[i+1]["text"].(string) // a RichTextBlock has none
		}
	}
	if !strings.Contains(under["Steps"], want.Steps[0]) || strings.Contains(under["Caveats"], want.Steps[0]) {
		t.Errorf("teams steps: under Steps %q, under Caveats %q", under["Steps"], under["Caveats"])
	}
	if !strings.Contains(under["Caveats"], want.Caveats[0]) || !strings.Contains(under["Links"], want.Links[0]) ||
		under["What to do"] != want.Summary {
		t.Errorf("teams sections: %v", under)
	}

	// PagerDuty: remedy, steps and links in the details, links on the incident.
	ev, _ := (&PagerDuty{Name: "p"}).Event(&n)
	d := ev.Payload.CustomDetails
	if d["remedy"] != want.Summary || len(d["links"].([]string)) != len(want.Links) || len(d["steps"].([]string)) == 0 {
		t.Errorf("pagerduty details: %v", d)
	}
	var hrefs []string
	for _, l := range ev.Links {
		hrefs = append(hrefs, l["href"])
	}
	if !strings.Contains(strings.Join(hrefs, " "), want.Links[0]) {
		t.Errorf("pagerduty links: %v", ev.Links)
	}

	// Alertmanager annotations.
	ann := (&Alertmanager{Name: "am"}).Alerts(&n)[0].Annotations
	if ann["remedy"] != want.Summary || !strings.Contains(ann["links"], want.Links[0]) || !strings.Contains(ann["steps"], want.Steps[0]) {
		t.Errorf("alertmanager annotations: %v", ann)
	}
}

// The target's auth_policy, carried from the event, fills <policy> in the
// alert's fix lines (posture and Basic-blocked alike).
func TestRemedyFillsAuthPolicy(t *testing.T) {
	ev := event(scheduler.EventUnexpectedlyOK, "b@contoso.com", probe.IMAP, diagnose.CauseOK, diagnose.CauseBasicAuthDisabled)
	ev.AuthPolicy = "BlockBasicScanners"
	n := Notification{ID: "x", Kind: scheduler.EventUnexpectedlyOK, Status: StatusFiring,
		Problem: string(scheduler.EventUnexpectedlyOK), Scope: "contoso.com", Time: time.Now(), Firing: []Member{memberOf(ev)}}
	fix := strings.Join(Render(&n, "en").Fix, "\n")
	if !strings.Contains(fix, "-Identity BlockBasicScanners") || strings.Contains(fix, "<policy>") {
		t.Errorf("posture fix lines do not name the policy:\n%s", fix)
	}
	ev = event(scheduler.EventRegressed, "b@contoso.com", probe.SMTP, diagnose.CauseBasicAuthDisabled, diagnose.CauseOK)
	ev.AuthPolicy = "BlockBasicScanners"
	n = Notification{ID: "y", Kind: scheduler.EventRegressed, Status: StatusFiring,
		Problem: string(diagnose.CauseBasicAuthDisabled), Scope: "contoso.com", Time: time.Now(), Firing: []Member{memberOf(ev)}}
	fix = strings.Join(Render(&n, "en").Fix, "\n")
	if !strings.Contains(fix, "Set-AuthenticationPolicy -Identity BlockBasicScanners") || strings.Contains(fix, "<policy>") {
		t.Errorf("basic_auth_disabled fix lines do not name the policy:\n%s", fix)
	}
}

// A tenant-wide incident of three printers: the alert's fix is one ready
// line per printer, not the first printer's line alone.
func TestRemedyOneLinePerMailbox(t *testing.T) {
	var ms []Member
	for _, u := range []string{"p1@contoso.com", "p2@contoso.com", "p3@contoso.com"} {
		ms = append(ms, memberOf(event(scheduler.EventRegressed, u, probe.SMTP, diagnose.CauseSMTPAuthDisabledTenant, diagnose.CauseOK)))
	}
	n := Notification{ID: "z", Kind: scheduler.EventRegressed, Status: StatusFiring,
		Problem: string(diagnose.CauseSMTPAuthDisabledTenant), Scope: "contoso.com", Time: time.Now(), Firing: ms}
	fix := Render(&n, "en").Fix
	for _, u := range []string{"p1@contoso.com", "p2@contoso.com", "p3@contoso.com"} {
		if !slices.Contains(fix, "Set-CasMailbox "+u+" -SmtpClientAuthenticationDisabled $False") {
			t.Errorf("no fix line for %s: %q", u, fix)
		}
	}
}

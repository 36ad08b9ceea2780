package alerts

import (
	"context"
	"strings"
	"testing"
	"time"
)

// `exoprobe alerts test` sends something no receiver can take for a real
// alert, and leaves no incident open: PagerDuty and Alertmanager get the
// resolve right after; chat and webhooks only the sample.
func TestSendTestUnmistakableAndResolved(t *testing.T) {
	b := Backoff{Base: time.Millisecond, Max: time.Millisecond}

	pd := newReceiver(t, 202, `{"status":"success"}`)
	resolved, err := SendTest(context.Background(), Sink{Name: "pd", Notifier: &PagerDuty{Name: "pd",
		RoutingKey: NewSecret("R0UT1NG"), URL: NewSecret(pd.srv.URL)}}, "", 1, b)
	if err != nil || !resolved {
		t.Fatalf("pagerduty: resolved %v, err %v", resolved, err)
	}
	bodies, _ := pd.all()
	if len(bodies) != 2 {
		t.Fatalf("pagerduty got %d events, want trigger and resolve", len(bodies))
	}
	trig, res := decode[PagerDutyEvent](t, bodies[0]), decode[PagerDutyEvent](t, bodies[1])
	if trig.EventAction != "trigger" || res.EventAction != "resolve" || trig.DedupKey != res.DedupKey {
		t.Fatalf("pagerduty: %s then %s (%s, %s)", trig.EventAction, res.EventAction, trig.DedupKey, res.DedupKey)
	}
	if !strings.HasPrefix(trig.Payload.Summary, "exoprobe test alert") || trig.Payload.Severity != "info" {
		t.Errorf("pagerduty summary %q severity %q", trig.Payload.Summary, trig.Payload.Severity)
	}

	am := newReceiver(t, 200, "")
	before := time.Now()
	resolved, err = SendTest(context.Background(), Sink{Name: "am", Notifier: &Alertmanager{Name: "am", URL: NewSecret(am.srv.URL)}}, "", 1, b)
	if err != nil || !resolved {
		t.Fatalf("alertmanager: resolved %v, err %v", resolved, err)
	}
	bodies, _ = am.all()
	if len(bodies) != 2 {
		t.Fatalf("alertmanager got %d posts, want the alert and its resolve", len(bodies))
	}
	fire, end := decode[[]AMAlert](t, bodies[0]), decode[[]AMAlert](t, bodies[1])
	if len(fire) != 1 || len(end) != 1 {
		t.Fatalf("alertmanager alerts: %d then %d", len(fire), len(end))
	}
	l := fire[0].Labels
	if l["alertname"] != "ExoprobeTestAlert" || l["test"] != "true" || l["target"] == "scanner" {
		t.Errorf("alertmanager labels look real: %v", l)
	}
	if fire[0].EndsAt.After(before.Add(TestAlertTTL + time.Minute)) {
		t.Errorf("sample endsAt %v: open for hours if the resolve is lost", fire[0].EndsAt)
	}
	if !mapsEqual(end[0].Labels, l) || end[0].EndsAt.After(time.Now()) {
		t.Errorf("resolve: labels %v endsAt %v", end[0].Labels, end[0].EndsAt)
	}
	if !strings.HasPrefix(fire[0].Annotations["summary"], "exoprobe test alert") {
		t.Errorf("summary %q", fire[0].Annotations["summary"])
	}

	hook := newReceiver(t, 200, "")
	resolved, err = SendTest(context.Background(), Sink{Name: "hook", Notifier: &Webhook{Name: "hook", URL: NewSecret(hook.srv.URL)}}, "", 1, b)
	if err != nil || resolved {
		t.Fatalf("webhook: resolved %v, err %v", resolved, err)
	}
	bodies, _ = hook.all()
	if len(bodies) != 1 {
		t.Fatalf("webhook got %d posts, want 1", len(bodies))
	}
	p := decode[WebhookPayload](t, bodies[0])
	if p.Kind != KindTest || !strings.HasPrefix(p.Title, "exoprobe test alert") || len(p.Firing) != 1 ||
		p.Firing[0].Labels["test"] != "true" {
		t.Errorf("webhook sample: kind %s title %q firing %+v", p.Kind, p.Title, p.Firing)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

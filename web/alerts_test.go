package web

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/alerts"
)

// The status page lists the alert manager's recent deliveries, in both
// languages, with a failed try's reason; without a manager there is no
// section at all. (The manager's errors are free of secrets already:
// alerts' own tests hold it to that.)
func TestStatusPageAlertDeliveries(t *testing.T) {
	ds := []alerts.Delivery{
		{Time: now, Sink: "ops-slack", SinkType: "slack", Status: alerts.StatusResolved, Checks: 2, OK: true,
			Title: "Resolved: SMTP AUTH disabled for the tenant — contoso.com"},
		{Time: now.Add(-time.Minute), Sink: "hook", SinkType: "webhook", Status: alerts.StatusFiring, Checks: 2,
			Title: "SMTP AUTH disabled for the tenant — contoso.com", Reason: alerts.ReasonHTTP5xx,
			Error: "webhook hook: HTTP 503 Service Unavailable"},
	}
	var asked int
	h := newTestHandler(fixture(), Options{AlertDeliveries: func(n int) []alerts.Delivery { asked = n; return ds }})
	tests := []struct {
		path          string
		want, notWant []string
	}{
		{"/", []string{`<section id="alerts">`, "Recent alert deliveries", "ops-slack", "resolved", "delivered",
			"Resolved: SMTP AUTH disabled for the tenant — contoso.com", "(2 checks)", "failed; will retry", "http_5xx: webhook hook: HTTP 503"},
			[]string{canary}},
		{"/?lang=ja", []string{"最近のアラート送信", "送信済み", "失敗 (再送します)", "解決", "発生"}, []string{"Recent alert deliveries", canary}},
	}
	for _, tc := range tests {
		code, _, body := get(t, h, tc.path)
		if code != 200 {
			t.Fatalf("%s: %d", tc.path, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", tc.path, w)
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(body, w) {
				t.Errorf("%s: page has %q", tc.path, w)
			}
		}
	}
	if asked <= 0 {
		t.Errorf("deliveries asked with limit %d", asked)
	}

	_, _, body := get(t, newTestHandler(fixture(), Options{AlertDeliveries: func(int) []alerts.Delivery { return nil }}), "/")
	if !strings.Contains(body, "No alert sent yet.") {
		t.Error("an empty delivery list is not said")
	}
	_, _, body = get(t, newTestHandler(fixture(), Options{}), "/")
	if strings.Contains(body, `id="alerts"`) {
		t.Error("alerts section shown without a manager")
	}
}

// With a shared registry, /metrics serves what others registered there
// next to the handler's own series.
func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "exoprobe_alerts_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Inc()
	_, _, body := get(t, newTestHandler(fixture(), Options{Registry: reg}), "/metrics")
	for _, w := range []string{"exoprobe_alerts_test_total 1", "exoprobe_probe_success"} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}

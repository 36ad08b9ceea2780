package alerts

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/internal/amtest"
)

// A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1 gets
// the alert from the outbox and shows it active, then resolved; a second
// post with the same labels (another replica) stays one alert.
func TestRealAlertmanager(t *testing.T) {
	am := amtest.Start(t)
	base := am.URL
	alerts := func() []amtest.Alert { return am.Alerts(t) }
	dir := t.TempDir()

	db := openDB(t, dir)
	defer db.Close()
	m, err := New(fastOpts(db, Sink{Name: "am", Type: "alertmanager",
		Notifier: &Alertmanager{Name: "am", URL: NewSecret(base), Labels: map[string]string{"team": "mail"}}}))
	if err != nil {
		t.Fatal(err)
	}
	running(t, m)
	ev := regressed("scanner@contoso.com")
	m.Emit(ev)
	waitFor(t, "alert active in Alertmanager", func() bool {
		as := alerts()
		return len(as) == 1 && as[0].Status.State == "active"
	})
	a := alerts()[0]
	want := map[string]string{"alertname": "ExoprobeLoginFailing", "target": ev.Target, "protocol": "smtp",
		"mechanism": "basic", "cause": "smtp_auth_disabled_tenant", "severity": "error", "team": "mail"}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	// Another replica posts the same alert: Alertmanager keeps one.
	other := &Alertmanager{Name: "am2", URL: NewSecret(base), Labels: map[string]string{"team": "mail"}}
	n := Notification{Status: StatusFiring, Problem: "smtp_auth_disabled_tenant", Firing: []Member{memberOf(ev)}}
	if _, err := other.Notify(context.Background(), []Notification{n}); err != nil {
		t.Fatal(err)
	}
	if as := alerts(); len(as) != 1 {
		t.Fatalf("after a second replica: %d alerts, want 1", len(as))
	}
	m.Emit(recovered("scanner@contoso.com"))
	waitFor(t, "alert resolved in Alertmanager", func() bool {
		as := alerts()
		// Resolved alerts leave the active list; endsAt is in the past.
		return len(as) == 0 || (len(as) == 1 && !as[0].EndsAt.After(time.Now()))
	})
	res, err := http.Get(base + "/api/v2/alerts?active=false&silenced=false&inhibited=false&unprocessed=false")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatal(fmt.Sprint("list resolved: ", res.StatusCode))
	}
}

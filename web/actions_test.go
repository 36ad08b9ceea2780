package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/scheduler"
)

type fakeSilences struct {
	mu   sync.Mutex
	list []alerts.Silence
}

func (f *fakeSilences) Silences() []alerts.Silence {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]alerts.Silence(nil), f.list...)
}

func (f *fakeSilences) AddSilence(s alerts.Silence) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s.Source = "api"
	f.list = append(f.list, s)
	return nil
}

func (f *fakeSilences) DeleteSilence(id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.list {
		if s.ID == id {
			f.list = append(f.list[:i], f.list[i+1:]...)
			return true, nil
		}
	}
	return false, nil
}

func post(t *testing.T, h http.Handler, path, body string, hdr ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestActions(t *testing.T) {
	var logs testenv.Buffer
	var probed []scheduler.CheckID
	var cleared []string
	sil := &fakeSilences{}
	h := newTestHandler(fixture(), Options{
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
		ProbeNow:   func(id scheduler.CheckID) (bool, error) { probed = append(probed, id); return true, nil },
		ClearGuard: func(a string) (int, error) { cleared = append(cleared, a); return 3, nil },
		Silences:   sil,
	})
	_, _, page := get(t, h, "/")
	for _, w := range []string{`data-action="probe" data-check="demo/smtp/basic"`, `data-action="clear_guard" data-account="locked@contoso.com"`,
		`data-action="silence" data-incident="smtp_auth_disabled_tenant/contoso.com"`} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks the button %s", w)
		}
	}

	if code, body := post(t, h, "/api/v1/checks/demo%2Fsmtp%2Fbasic/probe", "{}"); code != 202 || len(probed) != 1 || probed[0] != "demo/smtp/basic" {
		t.Errorf("probe now: %d %s %v", code, body, probed)
	}
	if code, body := post(t, h, "/api/v1/guards/clear", `{"account":"locked@contoso.com"}`); code != 200 || !strings.Contains(body, `"cleared_failures": 3`) {
		t.Errorf("clear guard: %d %s", code, body)
	}
	code, body := post(t, h, "/api/v1/incidents/silence", `{"incident":"smtp_auth_disabled_tenant/contoso.com","duration":"2h"}`)
	if code != 201 || len(sil.list) != 1 {
		t.Fatalf("silence: %d %s", code, body)
	}
	s := sil.list[0]
	if len(s.Matchers) != 2 || !s.Matchers[0].Matches(map[string]string{"cause": "smtp_auth_disabled_tenant", "domain": "contoso.com"}) ||
		!s.Matchers[1].Matches(map[string]string{"cause": "smtp_auth_disabled_tenant", "domain": "contoso.com"}) ||
		s.Matchers[1].Matches(map[string]string{"domain": "fabrikam.com"}) || s.EndsAt.Sub(s.StartsAt).Hours() != 2 {
		t.Errorf("silence does not match exactly the incident: %+v", s)
	}
	_, _, page = get(t, h, "/")
	inc := incidentHTML(t, page, "smtp_auth_disabled_tenant/contoso.com")
	if !strings.Contains(inc, "silenced until") || !strings.Contains(inc, `data-action="unsilence" data-id="`+s.ID+`"`) {
		t.Errorf("incident does not show its silence:\n%.800s", inc)
	}
	if other := incidentHTML(t, page, "unexpectedly_ok/contoso.com"); strings.Contains(other, "silenced until") {
		t.Error("the silence shows on another incident")
	}
	if code, _ := post(t, h, "/api/v1/incidents/unsilence", `{"id":"`+s.ID+`"}`); code != 204 || len(sil.list) != 0 {
		t.Errorf("expire: %d, %d left", code, len(sil.list))
	}
	if code, _ := post(t, h, "/api/v1/incidents/unsilence", `{"id":"`+s.ID+`"}`); code != 404 {
		t.Errorf("expire twice: %d", code)
	}
	for _, a := range []string{"action=probe_now", "action=clear_guard", "action=silence_incident", "action=expire_silence"} {
		if !strings.Contains(logs.String(), a) {
			t.Errorf("no log line for %s:\n%s", a, logs.String())
		}
	}

	// The write path refuses what a foreign page could send.
	tests := []struct {
		name string
		hdr  []string
		want int
	}{
		{"form post", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"text/plain", []string{"Content-Type", "text/plain"}, 415},
		{"foreign origin", []string{"Origin", "https://evil.example"}, 403},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same origin", []string{"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"}, 202},
	}
	for _, tc := range tests {
		n := len(probed)
		code, body := post(t, h, "/api/v1/checks/demo%2Fsmtp%2Fbasic/probe", "{}", tc.hdr...)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
		if tc.want != 202 && len(probed) != n {
			t.Errorf("%s: the action ran although refused", tc.name)
		}
	}
}

// Options.Protect replaces the default protection for every action, and
// without the actions wired there are neither buttons nor routes.
func TestActionsProtectAndAbsent(t *testing.T) {
	ran := false
	h := newTestHandler(fixture(), Options{
		ProbeNow: func(scheduler.CheckID) (bool, error) { ran = true; return true, nil },
		Protect: func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "auth required", 401) })
		},
	})
	if code, _ := post(t, h, "/api/v1/checks/demo%2Fsmtp%2Fbasic/probe", "{}"); code != 401 || ran {
		t.Errorf("Protect not applied: %d ran=%v", code, ran)
	}
	h = newTestHandler(fixture(), Options{})
	_, _, page := get(t, h, "/")
	if strings.Contains(page, `data-action=`) {
		t.Error("buttons shown without actions wired")
	}
	if code, _ := post(t, h, "/api/v1/guards/clear", `{"account":"x"}`); code != 404 && code != 405 {
		t.Errorf("clear guard without ClearGuard: %d", code)
	}
}

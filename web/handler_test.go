package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

func newTestHandler(src Source, opt Options) http.Handler {
	if opt.Now == nil {
		opt.Now = func() time.Time { return now }
	}
	return NewHandler(src, opt)
}

func get(t testing.TB, h http.Handler, path string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.String()
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

func TestStatusJSON(t *testing.T) {
	h := newTestHandler(fixture(), Options{ConfigStatus: func() ConfigStatus {
		return ConfigStatus{LastReloadOK: false, LastReload: now, LastSuccess: t0, Error: "line 3: unknown key \"intervall\""}
	}})
	code, hdr, body := get(t, h, "/api/v1/status")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", code, hdr.Get("Content-Type"))
	}
	// Raw shape first: these keys are what scripts rely on.
	raw := decode[map[string]json.RawMessage](t, body)
	for _, k := range []string{"time", "summary", "checks", "config"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
	resp := decode[StatusResponse](t, body)
	if len(resp.Checks) != 8 {
		t.Fatalf("%d checks, want 8", len(resp.Checks))
	}
	want := map[scheduler.Status]int{scheduler.StatusOK: 3, scheduler.StatusFailing: 3, scheduler.StatusUnexpectedlyOK: 1, scheduler.StatusPending: 1}
	for s, n := range want {
		if resp.Summary[s] != n {
			t.Errorf("summary[%s] = %d, want %d", s, resp.Summary[s], n)
		}
	}
	var found bool
	for _, c := range resp.Checks {
		if c.ID == "demo/smtp/basic" {
			found = true
			if c.Cause != diagnose.CauseSMTPAuthDisabledTenant || c.Status != scheduler.StatusFailing || c.LastAttempt == nil {
				t.Errorf("demo/smtp/basic = %+v", c)
			}
		}
	}
	if !found {
		t.Error("demo/smtp/basic missing")
	}
	if resp.Config == nil || resp.Config.LastReloadOK || !strings.Contains(resp.Config.Error, "intervall") {
		t.Errorf("config = %+v", resp.Config)
	}
}

func TestCheckAndHistory(t *testing.T) {
	h := newTestHandler(fixture(), Options{})
	tests := []struct {
		name, path string
		code       int
		id         scheduler.CheckID
		n          int // history entries; -1 for the check itself
	}{
		{"raw slashes", "/api/v1/checks/ops/scanner/imap/basic/history", 200, "ops/scanner/imap/basic", 2},
		{"escaped id", "/api/v1/checks/ops%2Fscanner%2Fimap%2Fbasic/history", 200, "ops/scanner/imap/basic", 2},
		{"limit", "/api/v1/checks/ops%2Fscanner%2Fimap%2Fbasic/history?limit=1", 200, "ops/scanner/imap/basic", 1},
		{"no history yet", "/api/v1/checks/demo/pop/basic/history", 200, "demo/pop/basic", 0},
		{"check itself", "/api/v1/checks/demo/smtp/basic", 200, "demo/smtp/basic", -1},
		{"check escaped", "/api/v1/checks/ops%2Fscanner%2Fimap%2Fbasic", 200, "ops/scanner/imap/basic", -1},
		{"unknown", "/api/v1/checks/nobody/imap/basic/history", 404, "", 0},
		{"malformed", "/api/v1/checks/justone/history", 404, "", 0},
		{"empty", "/api/v1/checks/", 404, "", 0},
		{"bad limit", "/api/v1/checks/demo/pop/basic/history?limit=zero", 400, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, h, tc.path)
			if code != tc.code {
				t.Fatalf("code %d, want %d: %s", code, tc.code, body)
			}
			switch {
			case code != 200:
				if e := decode[apiError](t, body); e.Error == "" {
					t.Error("error body has no message")
				}
			case tc.n < 0:
				if st := decode[scheduler.CheckState](t, body); st.ID != tc.id {
					t.Errorf("id %q, want %q", st.ID, tc.id)
				}
			default:
				r := decode[HistoryResponse](t, body)
				if r.ID != tc.id || len(r.History) != tc.n || r.History == nil {
					t.Errorf("got id %q, %d entries (nil=%v); want %q, %d", r.ID, len(r.History), r.History == nil, tc.id, tc.n)
				}
			}
		})
	}
}

func TestEventsNewestFirst(t *testing.T) {
	h := newTestHandler(fixture(), Options{})
	_, _, body := get(t, h, "/api/v1/events")
	// The documented keys of one event.
	raw := decode[struct {
		Events []map[string]any `json:"events"`
	}](t, body)
	if len(raw.Events) != 3 {
		t.Fatalf("%d events, want 3", len(raw.Events))
	}
	for _, k := range []string{"time", "kind", "target", "protocol", "mechanism", "cause", "prev_cause"} {
		if _, ok := raw.Events[0][k]; !ok {
			t.Errorf("event lacks %q: %v", k, raw.Events[0])
		}
	}
	r := decode[EventsResponse](t, body)
	for i := 1; i < len(r.Events); i++ {
		if r.Events[i].Time.After(r.Events[i-1].Time) {
			t.Errorf("events not newest first at %d", i)
		}
	}
	if e := r.Events[0]; e.Kind != scheduler.EventUnexpectedlyOK || e.Target != "ops/scanner" || e.PrevCause != diagnose.CauseBasicAuthDisabled {
		t.Errorf("newest = %+v", e)
	}
	_, _, body = get(t, h, "/api/v1/events?limit=1")
	if r := decode[EventsResponse](t, body); len(r.Events) != 1 {
		t.Errorf("limit=1 gave %d", len(r.Events))
	}
	if code, _, _ := get(t, h, "/api/v1/events?limit=-3"); code != 400 {
		t.Errorf("limit=-3: %d", code)
	}
	src := fixture()
	src.err = errBoom
	code, _, body := get(t, newTestHandler(src, Options{}), "/api/v1/events")
	if code != 500 || strings.Contains(body, "boom") {
		t.Errorf("store error: %d %s (internal error text must not leak)", code, body)
	}
}

func TestHealthReadyReload(t *testing.T) {
	var ready error = errors.New("config not loaded")
	var reloadErr error
	reloads := 0
	h := newTestHandler(fixture(), Options{
		Ready: func() error { return ready },
		Reload: func(ctx context.Context) error {
			reloads++
			return reloadErr
		},
	})
	if code, _, body := get(t, h, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, _, body := get(t, h, "/readyz"); code != 503 || !strings.Contains(body, "config not loaded") {
		t.Errorf("readyz before ready: %d %q", code, body)
	}
	ready = nil
	if code, _, _ := get(t, h, "/readyz"); code != 200 {
		t.Errorf("readyz when ready: %d", code)
	}
	post := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := post(); code != 200 {
		t.Errorf("reload: %d", code)
	}
	reloadErr = errors.New("line 7: bad interval")
	if code, body := post(); code != 500 || !strings.Contains(body, "line 7") {
		t.Errorf("failed reload: %d %q", code, body)
	}
	if reloads != 2 {
		t.Errorf("%d reloads, want 2", reloads)
	}
	if code, _, _ := get(t, h, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d", code)
	}
	if code, _, _ := get(t, newTestHandler(fixture(), Options{}), "/nothing-here"); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

// TestNoSecretsPublished feeds attempts whose transcript, error and replies
// carry a password and a bearer token in clear (as a broken probe might)
// and checks no endpoint publishes them.
func TestNoSecretsPublished(t *testing.T) {
	h := newTestHandler(statsSource{withStats(fixture())}, Options{})
	forms := []string{canary, base64.StdEncoding.EncodeToString([]byte(canary)),
		base64.StdEncoding.EncodeToString([]byte("\x00demo@contoso.com\x00" + canary)),
		base64.StdEncoding.EncodeToString([]byte("demo@contoso.com"))}
	paths := []string{"/", "/?lang=ja", "/api/v1/status", "/api/v1/events", "/api/v1/readiness", "/metrics",
		"/api/v1/checks/demo/smtp/basic", "/api/v1/checks/demo/smtp/xoauth2", "/api/v1/checks/demo/imap/basic",
		"/api/v1/checks/ops/scanner/imap/basic/history"}
	for _, p := range paths {
		code, _, body := get(t, h, p)
		if code != 200 {
			t.Errorf("%s: %d", p, code)
		}
		for _, f := range forms {
			if strings.Contains(body, f) {
				t.Errorf("%s publishes a secret (%q)", p, f)
			}
		}
	}
	// The lines are still there, cut down to their verb.
	_, _, body := get(t, h, "/api/v1/checks/demo/smtp/basic")
	st := decode[scheduler.CheckState](t, body)
	tr := strings.Join(st.LastAttempt.Transcript, "\n")
	if !strings.Contains(tr, "C: AUTH LOGIN ****\nS: 334 UGFzc3dvcmQ6\nC: ****\nS: 535 ") {
		t.Errorf("transcript not redacted as expected:\n%s", tr)
	}
	// History replies are scrubbed, not dropped.
	_, _, body = get(t, h, "/api/v1/checks/ops/scanner/imap/basic/history")
	hr := decode[HistoryResponse](t, body)
	if len(hr.History) != 2 || hr.History[1].Reply != "a1 NO AUTHENTICATE failed. auth=Bearer **** password=****" {
		t.Errorf("history not scrubbed as expected: %+v", hr.History)
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, hdr, _ := get(t, newTestHandler(fixture(), Options{}), "/")
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", hdr)
	}
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

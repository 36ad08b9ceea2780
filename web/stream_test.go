package web

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The streamed status document is the one writeJSON would have written,
// byte for byte: readers parse it with the same expectations.
func TestWriteStatusJSONMatchesEncoder(t *testing.T) {
	now := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	states := []scheduler.CheckState{
		{ID: "a<b>&c/imap/basic", Target: "a<b>&c", Labels: map[string]string{"team": "x\"y"}, Protocol: probe.IMAP,
			Mechanism: probe.Basic, Expect: scheduler.ExpectFail, Status: scheduler.StatusOK, Cause: diagnose.Cause("basic_auth_disabled"),
			Since: now, Interval: 5 * time.Minute, Timeout: 30 * time.Second,
			Last: &scheduler.AttemptSummary{Start: now, Stage: probe.Stage("auth"), Duration: time.Second, Words: "NO AUTHENTICATE failed.\n\"checks\": ["}},
		{ID: "t/smtp/xoauth2", Target: "t", Protocol: probe.SMTP, Mechanism: probe.XOAUTH2, Expect: scheduler.ExpectOK,
			Status: scheduler.StatusPending, Interval: time.Minute},
	}
	for _, tc := range []struct {
		name   string
		checks []scheduler.CheckState
		config *ConfigJSON
	}{
		{"none", nil, nil},
		{"one", states[:1], &ConfigJSON{LastReloadOK: true, Error: `"checks": []`}},
		{"two", states, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := scheduler.Page{Total: 2, Statuses: map[scheduler.Status]int{scheduler.StatusOK: 1}, Matched: len(tc.checks)}
			resp := StatusResponse{Time: now, Summary: page.Statuses, Page: page, Config: tc.config}
			streamed := httptest.NewRecorder()
			writeStatusJSON(streamed, resp, tc.checks)

			resp.Checks = []CheckJSON{}
			for _, st := range tc.checks {
				resp.Checks = append(resp.Checks, checkJSON(sanitizeState(st)))
			}
			whole := httptest.NewRecorder()
			writeJSON(whole, 200, resp)
			if got, want := streamed.Body.String(), whole.Body.String(); got != want {
				t.Fatalf("streamed document differs:\n%s\nwant:\n%s", got, want)
			}
			for _, h := range []string{"Content-Type", "Cache-Control"} {
				if got, want := streamed.Header().Get(h), whole.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

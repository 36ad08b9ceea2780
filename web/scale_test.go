package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// fleet makes n/6 targets × 3 protocols × 2 mechanisms; every 10th
// target's Basic SMTP fails with smtp_auth_disabled_tenant, every Basic
// IMAP/POP check is a posture check that holds.
func fleet(n int) *fakeSource {
	f := &fakeSource{}
	for i := range n / 6 {
		name := fmt.Sprintf("t%05d", i)
		team := []string{"a", "b", "c"}[i%3]
		for _, p := range probe.Protocols {
			for _, m := range probe.Mechanisms {
				exp, status, cause := scheduler.ExpectOK, scheduler.StatusOK, diagnose.CauseOK
				last := &scheduler.AttemptSummary{Start: now, OK: true, Stage: probe.StageDone, Duration: 40 * time.Millisecond,
					Timings: []probe.StageTiming{{Stage: probe.StageConnect, Duration: time.Millisecond}, {Stage: probe.StageAuth, Duration: 30 * time.Millisecond}}}
				if m == probe.Basic && p != probe.SMTP {
					exp, cause = scheduler.ExpectFail, diagnose.CauseBasicAuthDisabled
					last = &scheduler.AttemptSummary{Start: now, Stage: probe.StageAuth, Words: "a1 NO AUTHENTICATE failed."}
				}
				if m == probe.Basic && p == probe.SMTP && i%10 == 0 {
					status, cause = scheduler.StatusFailing, diagnose.CauseSMTPAuthDisabledTenant
					last = &scheduler.AttemptSummary{Start: now, Stage: probe.StageAuth, Words: smtpDisabledReply}
				}
				if m == probe.XOAUTH2 {
					last.TokenExpiry = now.Add(time.Hour)
				}
				st := check(name, "u"+name+"@contoso.com", p, m, exp, status, cause)
				st.Labels = map[string]string{"team": team}
				st.Last = last
				f.checks = append(f.checks, st)
			}
		}
	}
	return f
}

// rangeSource adds Range and Len, as the scheduler has.
type rangeSource struct{ *fakeSource }

func (r rangeSource) Len() int { return len(r.checks) }

func (r rangeSource) Range(fn func(scheduler.CheckState) bool) {
	for _, st := range r.checks {
		if !fn(st) {
			return
		}
	}
}

func TestStatusAPIFiltersAndPages(t *testing.T) {
	h := NewHandler(fleet(600), Options{Now: func() time.Time { return now }})
	code, _, body := get(t, h, "/api/v1/status?status=failing&limit=4&offset=2")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	r := decode[StatusResponse](t, body)
	if r.Total != 600 || r.Matched != 10 || len(r.Checks) != 4 || r.Offset != 2 || r.Limit != 4 {
		t.Fatalf("total %d matched %d page %d offset %d limit %d", r.Total, r.Matched, len(r.Checks), r.Offset, r.Limit)
	}
	if r.Checks[0].ID != "t00020/smtp/basic" {
		t.Errorf("offset 2 of the failing checks is %s", r.Checks[0].ID)
	}
	if r.Summary[scheduler.StatusFailing] != 10 || r.Summary[scheduler.StatusOK] != 590 {
		t.Errorf("summary %v must count the whole fleet", r.Summary)
	}
	if r.MatchedCauses[diagnose.CauseSMTPAuthDisabledTenant] != 10 {
		t.Errorf("matched causes %v", r.MatchedCauses)
	}
	if r.Checks[0].Last == nil || !strings.Contains(r.Checks[0].Last.Words, "5.7.139") {
		t.Errorf("a failing check's summary lacks the server's words: %+v", r.Checks[0].Last)
	}
	for q, want := range map[string]int{
		"cause=basic_auth_disabled":                         200,
		"cause=basic_auth_disabled&label=team=a":            68,
		"target=t00007":                                     6,
		"protocol=pop&mechanism=xoauth2":                    100,
		"q=T0001":                                           60,
		"status=failing,ok&cause=smtp_auth_disabled_tenant": 10,
	} {
		r := decode[StatusResponse](t, func() string { _, _, b := get(t, h, "/api/v1/status?"+q); return b }())
		if r.Matched != want || len(r.Checks) != want {
			t.Errorf("%s: matched %d, %d checks; want %d", q, r.Matched, len(r.Checks), want)
		}
	}
	r = decode[StatusResponse](t, func() string { _, _, b := get(t, h, "/api/v1/status?sort=problems&limit=11"); return b }())
	for i, st := range r.Checks {
		if (st.Status == scheduler.StatusFailing) != (i < 10) {
			t.Fatalf("sort=problems: check %d is %s", i, st.Status)
		}
	}
	// Unpaginated, as before: every check.
	if r := decode[StatusResponse](t, func() string { _, _, b := get(t, h, "/api/v1/status"); return b }()); len(r.Checks) != 600 {
		t.Errorf("no parameters: %d checks, want all 600", len(r.Checks))
	}
	for _, bad := range []string{"limit=0", "limit=x", "offset=-1", "sort=name", "label=team", "label=team=a&label=team=b"} {
		if code, _, body := get(t, h, "/api/v1/status?"+bad); code != http.StatusBadRequest || !strings.Contains(body, "error") {
			t.Errorf("%s: %d %s, want 400", bad, code, body)
		}
	}
}

// TestMetricsFleetScale: above SparseAbove checks, /metrics exports the
// fleet-scale set: one status and one cause series per check, no per-check
// durations or last-run times, since only for checks that are not ok.
func TestMetricsFleetScale(t *testing.T) {
	src := rangeSource{fleet(600)}
	for _, c := range []struct {
		name   string
		opt    Options
		sparse bool
	}{
		{"default below the threshold", Options{}, false},
		{"above the threshold", Options{SparseAbove: 599}, true},
		{"forced", Options{SparseCauses: true, SparseAbove: -1}, true},
		{"never", Options{SparseAbove: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewHandler(src, c.opt)
			code, hdr, body := get(t, h, "/metrics")
			if code != http.StatusOK {
				t.Fatalf("/metrics: %d", code)
			}
			if !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
				t.Errorf("content type %q", hdr.Get("Content-Type"))
			}
			p := expfmt.NewTextParser(model.LegacyValidation)
			mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
			if err != nil {
				t.Fatalf("the exposition does not parse: %v", err)
			}
			count := func(name string) int {
				if mf := mfs[name]; mf != nil {
					return len(mf.Metric)
				}
				return 0
			}
			wantDur := 0
			for _, st := range src.checks {
				wantDur += 1 + len(st.Last.Timings)
			}
			wantStatus, wantSince := 600*len(statuses), 600
			if c.sparse {
				wantStatus, wantDur, wantSince = 600, 0, 10
			}
			if n := count("exoprobe_check_status"); n != wantStatus {
				t.Errorf("exoprobe_check_status: %d series, want %d", n, wantStatus)
			}
			if n := count("exoprobe_probe_duration_seconds"); n != wantDur {
				t.Errorf("exoprobe_probe_duration_seconds: %d series, want %d", n, wantDur)
			}
			if n := count("exoprobe_check_since_timestamp_seconds"); n != wantSince {
				t.Errorf("exoprobe_check_since_timestamp_seconds: %d series, want %d", n, wantSince)
			}
			for name, want := range map[string]int{"exoprobe_probe_success": 600, "exoprobe_check_expected": 600,
				"exoprobe_token_expiry_timestamp_seconds": 300} {
				if n := count(name); n != want {
					t.Errorf("%s: %d series, want %d", name, n, want)
				}
			}
			if c.sparse {
				const hot = `exoprobe_check_status{mechanism="basic",protocol="smtp",status="failing",target="t00010"} 1` + "\n"
				if !strings.Contains(body, hot) {
					t.Errorf("no line %s", hot)
				}
				if mfs["exoprobe_scheduler_checks"] == nil && mfs["go_goroutines"] == nil {
					t.Error("the registry's own families are missing")
				}
				if n := count("exoprobe_check_cause"); n != 600 {
					t.Errorf("exoprobe_check_cause: %d series, want 600", n)
				}
				if n := count("exoprobe_probe_last_run_timestamp_seconds"); n != 0 {
					t.Errorf("last run: %d series, want none", n)
				}
			}
		})
	}
}

// BenchmarkMetrics60k scrapes /metrics of 60,000 checks in the fleet-scale
// set and reports the body's size. Run: go test -run XXX -bench Metrics60k ./web
func BenchmarkMetrics60k(b *testing.B) {
	h := NewHandler(rangeSource{fleet(60000)}, Options{})
	var w discardWriter
	for b.Loop() {
		w = discardWriter{h: http.Header{}}
		h.ServeHTTP(&w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}
	b.ReportMetric(float64(w.n)/(1<<20), "MiB")
}

// discardWriter counts a response's bytes (a recorder's growing buffer
// would be most of what a benchmark measures).
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkStatusPage50 answers a 50-check page of the API over 60,000
// checks.
func BenchmarkStatusAPIPage60k(b *testing.B) {
	h := NewHandler(rangeSource{fleet(60000)}, Options{})
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/status?status=failing&limit=50", nil))
		io.Copy(io.Discard, bytes.NewReader(rec.Body.Bytes()))
	}
}

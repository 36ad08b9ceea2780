package web

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/scheduler"
)

func withStats(f *fakeSource) *fakeSource {
	f.stats = &scheduler.Stats{Checks: 8, InFlight: 2, Queued: 6, HostWait: 1, GuardWait: 0, Probes: 40, Confirms: 5,
		Panics: 0, GuardHolds: 3, ThrottleHolds: 1, DroppedEvents: 0,
		LagP50: 2 * time.Millisecond, LagP99: 40 * time.Millisecond, LagMax: 120 * time.Millisecond}
	return f
}

func registry(src Source, opt Options) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(src, opt))
	return reg
}

func TestMetricsPerCheck(t *testing.T) {
	reg := registry(fixture(), Options{})
	const want = `
# HELP exoprobe_probe_success 1 when the latest attempt of the check logged in (and the first mailbox command worked).
# TYPE exoprobe_probe_success gauge
exoprobe_probe_success{mechanism="basic",protocol="imap",target="demo"} 0
exoprobe_probe_success{mechanism="basic",protocol="imap",target="ops/scanner"} 1
exoprobe_probe_success{mechanism="basic",protocol="smtp",target="demo"} 0
exoprobe_probe_success{mechanism="xoauth2",protocol="imap",target="demo"} 1
exoprobe_probe_success{mechanism="xoauth2",protocol="smtp",target="demo"} 0
# HELP exoprobe_check_expected 1 when the check meets its expectation (confirmed), 0 when it does not; absent while pending.
# TYPE exoprobe_check_expected gauge
exoprobe_check_expected{mechanism="basic",protocol="imap",target="demo"} 1
exoprobe_check_expected{mechanism="basic",protocol="imap",target="ops/scanner"} 0
exoprobe_check_expected{mechanism="basic",protocol="pop",target="demo"} 1
exoprobe_check_expected{mechanism="basic",protocol="smtp",target="demo"} 0
exoprobe_check_expected{mechanism="basic",protocol="smtp",target="locked"} 0
exoprobe_check_expected{mechanism="xoauth2",protocol="imap",target="demo"} 1
exoprobe_check_expected{mechanism="xoauth2",protocol="smtp",target="demo"} 0
# HELP exoprobe_token_expiry_timestamp_seconds Expiry (Unix time) of the access token the latest XOAUTH2 attempt used.
# TYPE exoprobe_token_expiry_timestamp_seconds gauge
exoprobe_token_expiry_timestamp_seconds{mechanism="xoauth2",protocol="smtp",target="demo"} 1.7987112e+09
# HELP exoprobe_lockout_guard_active 1 while the lockout guard holds back Basic logins for the account.
# TYPE exoprobe_lockout_guard_active gauge
exoprobe_lockout_guard_active{account="demo@contoso.com"} 0
exoprobe_lockout_guard_active{account="locked@contoso.com"} 1
exoprobe_lockout_guard_active{account="scanner@contoso.com"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"exoprobe_probe_success", "exoprobe_check_expected", "exoprobe_token_expiry_timestamp_seconds",
		"exoprobe_lockout_guard_active"); err != nil {
		t.Error(err)
	}
	if exp := float64(t0.Add(time.Hour).Unix()); exp != 1.7987112e+09 {
		t.Fatalf("fixture token expiry moved: %v", exp)
	}
}

func TestMetricsCauseOneHot(t *testing.T) {
	src := fixture()
	mfs, err := registry(src, Options{}).Gather()
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ id, cause string }
	got := map[key]float64{}
	perCheck := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "exoprobe_check_cause" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if len(l) != 4 {
				t.Fatalf("label set %v, want target, protocol, mechanism, cause", l)
			}
			id := l["target"] + "/" + l["protocol"] + "/" + l["mechanism"]
			got[key{id, l["cause"]}] = m.GetGauge().GetValue()
			perCheck[id]++
		}
	}
	for _, st := range src.checks {
		if perCheck[string(st.ID)] != len(diagnose.Causes()) {
			t.Errorf("%s: %d cause series, want %d (one per catalog cause)", st.ID, perCheck[string(st.ID)], len(diagnose.Causes()))
		}
		hot := 0.0
		for _, c := range diagnose.Causes() {
			hot += got[key{string(st.ID), string(c)}]
		}
		want := 1.0
		if st.Cause == "" {
			want = 0 // pending: no confirmed cause
		}
		if hot != want {
			t.Errorf("%s: %v hot causes, want %v", st.ID, hot, want)
		}
	}
	if got[key{"demo/smtp/basic", "smtp_auth_disabled_tenant"}] != 1 || got[key{"demo/smtp/basic", "ok"}] != 0 {
		t.Error("demo/smtp/basic cause not smtp_auth_disabled_tenant")
	}

	// Sparse: only the hot series, written outside the registry.
	_, _, body := get(t, NewHandler(src, Options{SparseCauses: true}), "/metrics")
	if n := strings.Count(body, "\nexoprobe_check_cause{"); n != len(src.checks)-1 {
		t.Errorf("sparse causes: %d series, want %d", n, len(src.checks)-1)
	}
}

// TestMetricsDurationStages: the fixture's SMTP attempt reaches the
// capability stage twice (EHLO before and after STARTTLS), as every real
// one does; the scrape must still hold one series per stage, with the time
// of both, and gather without error.
func TestMetricsDurationStages(t *testing.T) {
	const want = `
# HELP exoprobe_probe_duration_seconds Time the latest attempt spent in each stage it reached (summed over repeats, e.g. SMTP EHLO before and after STARTTLS); stage="total" is the whole attempt.
# TYPE exoprobe_probe_duration_seconds gauge
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="auth",target="demo"} 1.25
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="capability",target="demo"} 0.045
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="connect",target="demo"} 0.002
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="dns",target="demo"} 0.001
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="greeting",target="demo"} 0.172
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="starttls",target="demo"} 0.03
exoprobe_probe_duration_seconds{mechanism="basic",protocol="smtp",stage="total",target="demo"} 1.5
`
	src := fixture()
	src.checks = src.checks[:0:0]
	for _, st := range fixture().checks {
		if st.ID == "demo/smtp/basic" {
			src.checks = append(src.checks, st)
		}
	}
	caps := 0
	for _, tm := range src.checks[0].LastAttempt.Timings {
		if tm.Stage == "capability" {
			caps++
		}
	}
	if caps != 2 {
		t.Fatalf("fixture: %d capability timings, want 2 (EHLO before and after STARTTLS)", caps)
	}
	reg := registry(src, Options{})
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "exoprobe_probe_duration_seconds"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestMetricsGatherWholeFixture gathers the whole fixture, dense and
// sparse, through the handler's registry (Go and process collectors
// included): any duplicate series is an error here, as it is for a scrape.
func TestMetricsGatherWholeFixture(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		newTestHandler(statsSource{withStats(fixture())}, Options{Registry: reg, SparseCauses: sparse})
		if _, err := reg.Gather(); err != nil {
			t.Errorf("sparse=%v: gather: %v", sparse, err)
		}
		problems, err := testutil.GatherAndLint(reg)
		if err != nil {
			t.Errorf("sparse=%v: lint: %v", sparse, err)
		}
		for _, p := range problems {
			if strings.HasPrefix(p.Metric, "exoprobe_") {
				t.Errorf("sparse=%v: lint: %s: %s", sparse, p.Metric, p.Text)
			}
		}
	}
}

func TestMetricsSelf(t *testing.T) {
	opt := Options{ConfigStatus: func() ConfigStatus {
		return ConfigStatus{LastReloadOK: false, LastReload: t0.Add(time.Minute), LastSuccess: t0, ReloadsOK: 4, ReloadsFailed: 1}
	}}
	const want = `
# HELP exoprobe_config_last_reload_successful 1 when the latest configuration load or reload succeeded.
# TYPE exoprobe_config_last_reload_successful gauge
exoprobe_config_last_reload_successful 0
# HELP exoprobe_config_last_reload_success_timestamp_seconds When the configuration was last loaded successfully (Unix time).
# TYPE exoprobe_config_last_reload_success_timestamp_seconds gauge
exoprobe_config_last_reload_success_timestamp_seconds 1.7987076e+09
# HELP exoprobe_config_reloads_total Configuration reloads since start (SIGHUP, POST /-/reload) by result: success or failure.
# TYPE exoprobe_config_reloads_total counter
exoprobe_config_reloads_total{result="success"} 4
exoprobe_config_reloads_total{result="failure"} 1
# HELP exoprobe_scheduler_in_flight Probes running now.
# TYPE exoprobe_scheduler_in_flight gauge
exoprobe_scheduler_in_flight 2
# HELP exoprobe_scheduler_lag_seconds Start lag (actual minus planned start) over the latest 8192 probes: stat is p50, p99 or max.
# TYPE exoprobe_scheduler_lag_seconds gauge
exoprobe_scheduler_lag_seconds{stat="p50"} 0.002
exoprobe_scheduler_lag_seconds{stat="p99"} 0.04
exoprobe_scheduler_lag_seconds{stat="max"} 0.12
# HELP exoprobe_probes_total Probes started, confirm re-probes included.
# TYPE exoprobe_probes_total counter
exoprobe_probes_total 40
`
	reg := registry(statsSource{withStats(fixture())}, opt)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "exoprobe_config_last_reload_successful",
		"exoprobe_config_last_reload_success_timestamp_seconds", "exoprobe_config_reloads_total", "exoprobe_scheduler_in_flight",
		"exoprobe_scheduler_lag_seconds", "exoprobe_probes_total"); err != nil {
		t.Error(err)
	}
	// Without a StatsSource or ConfigStatus the self-metrics are absent,
	// not zero: a zero would claim a failed reload.
	if n, _ := testutil.GatherAndCount(registry(fixture(), Options{}), "exoprobe_config_last_reload_successful", "exoprobe_scheduler_in_flight"); n != 0 {
		t.Errorf("%d self-metric series without sources", n)
	}
	problems, err := testutil.CollectAndLint(newCollector(statsSource{withStats(fixture())}, opt))
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	logs := &testenv.Buffer{}
	h := newTestHandler(statsSource{withStats(fixture())}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	code, hdr, body := get(t, h, "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %q", code, hdr.Get("Content-Type"))
	}
	// promhttp serves what it could and logs the rest: a scrape that
	// dropped a series shows only in the log.
	if l := logs.String(); l != "" {
		t.Errorf("scrape logged: %s", l)
	}
	for _, name := range []string{"exoprobe_probe_success{", "exoprobe_probe_duration_seconds{", "exoprobe_check_expected{",
		`exoprobe_check_cause{cause="smtp_auth_disabled_tenant",mechanism="basic",protocol="smtp",target="demo"} 1`,
		"exoprobe_token_expiry_timestamp_seconds{", "exoprobe_lockout_guard_active{", "exoprobe_scheduler_lag_seconds{",
		"exoprobe_scheduler_in_flight ", "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

package web

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// The collector reads the scheduler's Snapshot at scrape time: metrics can
// never disagree with the API or the status page, and there is no second
// copy of per-check state to keep in sync on reloads.
//
// exoprobe_probe_duration_seconds is a gauge of the latest attempt, one
// series per stage reached (the time spent in it, summed when the stage
// came up twice) plus stage="total" for the whole attempt (so do not sum
// over stage). A histogram would need state accumulated between
// scrapes, which is what this collector avoids; at one attempt per check
// per interval, the latest value is what a histogram bucket would hold
// anyway between two scrapes.

var checkLabels = []string{"target", "protocol", "mechanism"}

// DefaultSparseAbove is the number of checks above which /metrics exports
// the fleet-scale set of per-check series (Options.SparseAbove).
const DefaultSparseAbove = 5000

type collector struct {
	src    Source
	opt    Options
	causes []diagnose.Cause

	success, duration, expected, status, cause, tokenExpiry, lastRun, since *prometheus.Desc
	guardActive, guardFailures                                              *prometheus.Desc
	reloadOK, reloadSuccessTime, reloadTime, reloads                        *prometheus.Desc
	checks, inFlight, queued, waiting, lag                                  *prometheus.Desc
	probes, confirms, panics, guardHolds, throttleHolds, dropped            *prometheus.Desc
	abandoned                                                               *prometheus.Desc
}

func newCollector(src Source, opt Options) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	cl := func(extra ...string) []string { return append(append([]string{}, checkLabels...), extra...) }
	return &collector{
		src: src, opt: opt, causes: diagnose.Causes(),
		success:     d("exoprobe_probe_success", "1 when the latest attempt of the check logged in (and the first mailbox command worked).", cl()...),
		duration:    d("exoprobe_probe_duration_seconds", "Time the latest attempt spent in each stage it reached (summed over repeats, e.g. SMTP EHLO before and after STARTTLS); stage=\"total\" is the whole attempt.", cl("stage")...),
		expected:    d("exoprobe_check_expected", "1 when the check meets its expectation (confirmed), 0 when it does not; absent while pending.", cl()...),
		status:      d("exoprobe_check_status", "Confirmed status of the check, one-hot over pending, ok, failing, unexpectedly_ok, unverified (an expect: fail check refused for a reason that proves nothing).", cl("status")...),
		cause:       d("exoprobe_check_cause", "Confirmed cause of the check, one-hot over the cause catalog.", cl("cause")...),
		tokenExpiry: d("exoprobe_token_expiry_timestamp_seconds", "Expiry (Unix time) of the access token the latest XOAUTH2 attempt used.", cl()...),
		lastRun:     d("exoprobe_probe_last_run_timestamp_seconds", "When the latest attempt started (Unix time).", cl()...),
		since:       d("exoprobe_check_since_timestamp_seconds", "When the check's current status and cause started (Unix time).", cl()...),

		guardActive:   d("exoprobe_lockout_guard_active", "1 while the lockout guard holds back Basic logins for the account.", "account"),
		guardFailures: d("exoprobe_lockout_guard_failures", "Failed Basic logins exoprobe made for the account inside the guard's window.", "account"),

		reloadOK:          d("exoprobe_config_last_reload_successful", "1 when the latest configuration load or reload succeeded."),
		reloadSuccessTime: d("exoprobe_config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully (Unix time)."),
		reloadTime:        d("exoprobe_config_last_reload_timestamp_seconds", "When the configuration was last loaded or a reload attempted (Unix time)."),
		reloads:           d("exoprobe_config_reloads_total", "Configuration reloads since start (SIGHUP, POST /-/reload) by result: success or failure.", "result"),

		checks:        d("exoprobe_scheduler_checks", "Checks configured."),
		inFlight:      d("exoprobe_scheduler_in_flight", "Probes running now."),
		queued:        d("exoprobe_scheduler_queued", "Checks waiting for their next run."),
		waiting:       d("exoprobe_scheduler_waiting", "Due checks held back by a per-host limit or the lockout guard.", "reason"),
		lag:           d("exoprobe_scheduler_lag_seconds", "Start lag (actual minus planned start) over the latest 8192 probes: stat is p50, p99 or max.", "stat"),
		probes:        d("exoprobe_probes_total", "Probes started, confirm re-probes included."),
		confirms:      d("exoprobe_confirm_probes_total", "Confirm re-probes started."),
		panics:        d("exoprobe_probe_panics_total", "Probes that panicked (recorded as failed attempts)."),
		abandoned:     d("exoprobe_probe_abandoned_total", "Attempts given up at their deadline because a protocol library call did not return; each leaves a goroutine behind."),
		guardHolds:    d("exoprobe_lockout_guard_holds_total", "Times the lockout guard held a Basic attempt back."),
		throttleHolds: d("exoprobe_throttle_holds_total", "Times a check waited out a server's throttling backoff."),
		dropped:       d("exoprobe_events_dropped_total", "Events a slow subscriber missed (durable sinks are not affected)."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.success, c.duration, c.expected, c.status, c.cause, c.tokenExpiry,
		c.lastRun, c.since, c.guardActive, c.guardFailures, c.reloadOK, c.reloadSuccessTime, c.reloadTime, c.reloads,
		c.checks, c.inFlight, c.queued, c.waiting, c.lag, c.probes, c.confirms, c.panics, c.guardHolds,
		c.throttleHolds, c.dropped, c.abandoned} {
		ch <- d
	}
}

var statuses = []scheduler.Status{scheduler.StatusPending, scheduler.StatusOK, scheduler.StatusFailing, scheduler.StatusUnexpectedlyOK, scheduler.StatusUnverified}

// account names the lockout guard's key for a check the way the scheduler
// does: the login user, else the target name.
func account(st *scheduler.CheckState) string {
	if st.LockoutGuard != nil && st.LockoutGuard.Account != "" {
		return st.LockoutGuard.Account
	}
	if st.User != "" {
		return strings.ToLower(st.User)
	}
	return strings.ToLower(st.Target)
}

// sparse says whether this scrape exports the fleet-scale set of per-check
// series (see Options.SparseAbove).
func (c *collector) sparse() bool {
	if c.opt.SparseCauses {
		return true
	}
	above := c.opt.SparseAbove
	switch {
	case above < 0:
		return false
	case above == 0:
		above = DefaultSparseAbove
	}
	return countChecks(c.src) > above
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	type guardAgg struct {
		active   bool
		failures int
	}
	guards := map[string]*guardAgg{}
	sparse := c.sparse()
	rangeChecks(c.src, func(st scheduler.CheckState) bool {
		if sparse {
			return false // written by writeFleet, outside the registry
		}
		lv := []string{st.Target, string(st.Protocol), string(st.Mechanism)}
		status := st.Status
		if status == "" {
			status = scheduler.StatusPending
		}
		if a := lastOf(&st); a != nil {
			gauge(c.success, b2f(a.OK), lv...)
			gauge(c.duration, a.Duration.Seconds(), append(lv, "total")...)
			// A stage can come up more than once in one attempt (SMTP
			// sends EHLO before and after STARTTLS, both "capability"):
			// one series per stage holding the time spent in it, since
			// two samples with the same labels make the scrape fail.
			var order []probe.Stage
			per := map[probe.Stage]time.Duration{}
			for _, t := range a.Timings {
				if _, seen := per[t.Stage]; !seen {
					order = append(order, t.Stage)
				}
				per[t.Stage] += t.Duration
			}
			for _, st := range order {
				if st == "total" {
					continue // cannot happen in a probe's record; the label is ours
				}
				gauge(c.duration, per[st].Seconds(), append(lv, string(st))...)
			}
			if !a.TokenExpiry.IsZero() {
				gauge(c.tokenExpiry, float64(a.TokenExpiry.Unix()), lv...)
			}
		}
		if !st.LastRun.IsZero() {
			gauge(c.lastRun, float64(st.LastRun.UnixMilli())/1e3, lv...)
		}
		if !st.Since.IsZero() {
			gauge(c.since, float64(st.Since.UnixMilli())/1e3, lv...)
		}
		if status != scheduler.StatusPending {
			gauge(c.expected, b2f(status == scheduler.StatusOK), lv...)
		}
		for _, s := range statuses {
			gauge(c.status, b2f(s == status), append(lv, string(s))...)
		}
		known := false
		for _, k := range c.causes {
			hot := k == st.Cause
			known = known || hot
			gauge(c.cause, b2f(hot), append(lv, string(k))...)
		}
		if !known && st.Cause != "" {
			// A cause newer than this build's catalog still shows.
			gauge(c.cause, 1, append(lv, string(st.Cause))...)
		}
		if st.Mechanism == probe.Basic {
			acct := account(&st)
			g := guards[acct]
			if g == nil {
				g = &guardAgg{}
				guards[acct] = g
			}
			if st.LockoutGuard != nil {
				g.active = g.active || st.LockoutGuard.Active
				g.failures = max(g.failures, len(st.LockoutGuard.Failures))
			}
		}
		return true
	})
	for acct, g := range guards {
		gauge(c.guardActive, b2f(g.active), acct)
		gauge(c.guardFailures, float64(g.failures), acct)
	}
	if c.opt.ConfigStatus != nil {
		cs := c.opt.ConfigStatus()
		gauge(c.reloadOK, b2f(cs.LastReloadOK))
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(cs.ReloadsOK), "success")
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(cs.ReloadsFailed), "failure")
		if !cs.LastSuccess.IsZero() {
			gauge(c.reloadSuccessTime, float64(cs.LastSuccess.Unix()))
		}
		if !cs.LastReload.IsZero() {
			gauge(c.reloadTime, float64(cs.LastReload.Unix()))
		}
	}
	if ss, ok := c.src.(StatsSource); ok {
		s := ss.Stats()
		gauge(c.checks, float64(s.Checks))
		gauge(c.inFlight, float64(s.InFlight))
		gauge(c.queued, float64(s.Queued))
		gauge(c.waiting, float64(s.HostWait), "host")
		gauge(c.waiting, float64(s.GuardWait), "guard")
		gauge(c.lag, s.LagP50.Seconds(), "p50")
		gauge(c.lag, s.LagP99.Seconds(), "p99")
		gauge(c.lag, s.LagMax.Seconds(), "max")
		counter(c.probes, s.Probes)
		counter(c.confirms, s.Confirms)
		counter(c.panics, s.Panics)
		counter(c.guardHolds, s.GuardHolds)
		counter(c.throttleHolds, s.ThrottleHolds)
		counter(c.dropped, s.DroppedEvents)
		// Process-wide (probe.Run's own count), shown beside the
		// scheduler's panics.
		counter(c.abandoned, uint64(probe.Abandoned()))
	}
}

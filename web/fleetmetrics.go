package web

import (
	"bufio"
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"

	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// At fleet scale (Options.SparseAbove) /metrics writes the per-check
// families itself, in the text exposition format, straight from the
// scheduler's published states: client_golang's const metrics cost about
// 6 µs a series end to end (label pairs, a dto.Metric each, sorting), which
// at 60,000 checks made a scrape take seconds of both cores. Everything
// else (the scheduler's and alerts' self-metrics, the Go and process
// collectors) still comes from the registry.

type fleetFamily struct {
	name, help string
	// sample appends this family's samples of one check.
	sample func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte
}

// checkLabelValues are one check's label values, escaped.
type checkLabelValues struct{ target, protocol, mechanism string }

// gauge appends one sample with the check's labels and an optional extra
// label, in client_golang's (sorted) label order.
func gauge(b []byte, name string, lv *checkLabelValues, extra, extraValue string, v float64) []byte {
	label := func(b []byte, k, v string) []byte {
		b = append(b, k...)
		b = append(b, `="`...)
		b = append(b, v...)
		return append(b, '"')
	}
	b = append(b, name...)
	b = append(b, '{')
	if extra != "" && extra < "mechanism" {
		b = append(label(b, extra, escapeLabel(extraValue)), ',')
	}
	b = append(label(b, "mechanism", lv.mechanism), ',')
	b = append(label(b, "protocol", lv.protocol), ',')
	if extra != "" && extra > "protocol" && extra < "target" {
		b = append(label(b, extra, escapeLabel(extraValue)), ',')
	}
	b = label(b, "target", lv.target)
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, '\n')
}

func (c *collector) fleetFamilies() []fleetFamily {
	b2f := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	status := func(st *scheduler.CheckState) scheduler.Status {
		if st.Status == "" {
			return scheduler.StatusPending
		}
		return st.Status
	}
	return []fleetFamily{
		{"exoprobe_probe_success", "1 when the latest attempt of the check logged in (and the first mailbox command worked).",
			func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte {
				if a := lastOf(&st); a != nil {
					b = gauge(b, "exoprobe_probe_success", lv, "", "", b2f(a.OK))
				}
				return b
			}},
		{"exoprobe_check_expected", "1 when the check meets its expectation (confirmed), 0 when it does not; absent while pending.",
			func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte {
				if s := status(&st); s != scheduler.StatusPending {
					b = gauge(b, "exoprobe_check_expected", lv, "", "", b2f(s == scheduler.StatusOK))
				}
				return b
			}},
		{"exoprobe_check_status", "Confirmed status of the check: at fleet scale only the current status, value 1.",
			func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte {
				return gauge(b, "exoprobe_check_status", lv, "status", string(status(&st)), 1)
			}},
		{"exoprobe_check_cause", "Confirmed cause of the check: at fleet scale only the current cause, value 1.",
			func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte {
				if st.Cause != "" {
					b = gauge(b, "exoprobe_check_cause", lv, "cause", string(st.Cause), 1)
				}
				return b
			}},
		{"exoprobe_check_since_timestamp_seconds", "When the check's current status and cause started (Unix time); at fleet scale only for checks that are not ok.",
			func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte {
				if !st.Since.IsZero() && status(&st) != scheduler.StatusOK {
					b = gauge(b, "exoprobe_check_since_timestamp_seconds", lv, "", "", float64(st.Since.UnixMilli())/1e3)
				}
				return b
			}},
		{"exoprobe_token_expiry_timestamp_seconds", "Expiry (Unix time) of the access token the latest XOAUTH2 attempt used.",
			func(b []byte, st scheduler.CheckState, lv *checkLabelValues) []byte {
				if a := lastOf(&st); a != nil && !a.TokenExpiry.IsZero() {
					b = gauge(b, "exoprobe_token_expiry_timestamp_seconds", lv, "", "", float64(a.TokenExpiry.Unix()))
				}
				return b
			}},
	}
}

// writeFleet writes the per-check families and the lockout guard's
// accounts that have failures, one pass over the fleet per family.
func (c *collector) writeFleet(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var b []byte
	var lv checkLabelValues
	for _, f := range c.fleetFamilies() {
		b = append(b[:0], "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.help...)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, " gauge\n"...)
		var err error
		rangeChecks(c.src, func(st scheduler.CheckState) bool {
			lv = checkLabelValues{escapeLabel(st.Target), escapeLabel(string(st.Protocol)), escapeLabel(string(st.Mechanism))}
			b = f.sample(b, st, &lv)
			if len(b) > 32<<10 {
				_, err = bw.Write(b)
				b = b[:0]
			}
			return err == nil
		})
		if err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	type agg struct {
		active   bool
		failures int
	}
	guards := map[string]*agg{}
	var order []string
	rangeChecks(c.src, func(st scheduler.CheckState) bool {
		if st.Mechanism != probe.Basic || st.LockoutGuard == nil || len(st.LockoutGuard.Failures) == 0 {
			return true
		}
		acct := account(&st)
		g := guards[acct]
		if g == nil {
			g = &agg{}
			guards[acct] = g
			order = append(order, acct)
		}
		g.active = g.active || st.LockoutGuard.Active
		g.failures = max(g.failures, len(st.LockoutGuard.Failures))
		return true
	})
	for _, fam := range []struct {
		name, help string
		v          func(*agg) float64
	}{
		{"exoprobe_lockout_guard_active", "1 while the lockout guard holds back Basic logins for the account (at fleet scale only accounts with failures).",
			func(g *agg) float64 {
				if g.active {
					return 1
				}
				return 0
			}},
		{"exoprobe_lockout_guard_failures", "Failed Basic logins exoprobe made for the account inside the guard's window (at fleet scale only accounts with failures).",
			func(g *agg) float64 { return float64(g.failures) }},
	} {
		if len(order) == 0 {
			break
		}
		b = append(b[:0], "# HELP "+fam.name+" "+fam.help+"\n# TYPE "+fam.name+" gauge\n"...)
		for _, acct := range order {
			b = append(b, fam.name+`{account="`...)
			b = append(b, escapeLabel(acct)...)
			b = append(b, "\"} "...)
			b = strconv.AppendFloat(b, fam.v(guards[acct]), 'g', -1, 64)
			b = append(b, '\n')
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return labelEscaper.Replace(s)
}

// serveFleetMetrics answers /metrics at fleet scale: the registry's
// families, then the per-check ones, in the text format (which every
// Prometheus accepts), gzipped when the scraper asks (Prometheus does).
func (h *handler) serveFleetMetrics(w http.ResponseWriter, r *http.Request) {
	mfs, err := h.reg.Gather()
	if err != nil {
		// As promhttp's ContinueOnError: serve what was gathered.
		h.opt.Logger.Error("web: gathering metrics", "err", err)
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	var out io.Writer = w
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer gz.Close()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(bw, mf); err != nil {
			h.opt.Logger.Error("web: writing metrics", "err", err)
			return
		}
	}
	if err := bw.Flush(); err != nil {
		return
	}
	if err := h.coll.writeFleet(out); err != nil {
		h.opt.Logger.Debug("web: writing metrics", "err", err)
	}
}

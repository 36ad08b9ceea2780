package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/web"
)

// The HTTP surface of `run` (and so of `demo`): metrics, JSON API and the
// status page from package web, mounted on the daemon's mux. The daemon's
// own /healthz and POST /-/reload stay more specific and win.
func init() {
	mountHTTP(func(mux *http.ServeMux, rt *Runtime) {
		started := time.Now()
		if rt.Metrics != nil {
			// A reload mounts again on a new mux: registered once.
			for _, c := range []prometheus.Collector{buildInfo()} {
				if err := rt.Metrics.Register(c); err != nil {
					var are prometheus.AlreadyRegisteredError
					if !errors.As(err, &are) {
						rt.Log.Error("metrics: register", "err", err)
					}
				}
			}
		}
		var deliveries func(int) []alerts.Delivery
		if rt.Alerts != nil {
			deliveries = func(n int) []alerts.Delivery {
				if m := rt.AlertManager(); m != nil {
					return m.Recent(n)
				}
				return nil
			}
		}
		opt := web.Options{
			Logger:          rt.Log,
			Registry:        rt.Metrics,
			AlertDeliveries: deliveries,
			ConfigStatus:    func() web.ConfigStatus { return configStatus(rt, started) },
			SparseCauses:    rt.SparseCauses,
			SparseAbove:     rt.SparseAbove,
			Ready:           func() error { return ready(rt) },
			Tenants:         tenantViews(rt),
			Remedy:          tenantRemedy(rt),
			ProbeNow:        rt.Scheduler.ProbeNow,
			ClearGuard:      rt.Scheduler.ClearGuard,
		}
		if rt.alerts != nil {
			opt.Silences = liveSilences{rt}
		}
		mux.Handle("/", web.NewHandler(rt.Scheduler, opt))
	})
}

// configStatus maps the daemon's reload record to web's view: the first
// load succeeded when the daemon started (it does not start otherwise).
func configStatus(rt *Runtime, started time.Time) web.ConfigStatus {
	at, err := rt.LastReload()
	cs := web.ConfigStatus{LastReloadOK: err == nil, LastReload: at, LastSuccess: rt.LastSuccess(),
		ReloadsOK: rt.ReloadsOK.Load(), ReloadsFailed: rt.ReloadsFailed.Load()}
	if at.IsZero() {
		cs.LastReload = started
	}
	if cs.LastSuccess.IsZero() {
		cs.LastSuccess = started
	}
	if err != nil {
		cs.Error = err.Error()
	}
	return cs
}

// ready is /readyz: the listener comes up before the scheduler's loop, and
// a shutdown stops the loop before the listener, so "serving" alone would
// report ready while no check runs.
func ready(rt *Runtime) error {
	if rt.Config() == nil {
		return errors.New("no configuration loaded")
	}
	if !rt.schedulerRunning.Load() {
		return errors.New("scheduler not running")
	}
	return nil
}

// liveSilences is the page's view of the silences of the alert manager in
// force (a reload may replace it).
type liveSilences struct{ rt *Runtime }

var errAlertsOff = errors.New("alerting is off")

func (l liveSilences) Silences() []alerts.Silence {
	if m := l.rt.AlertManager(); m != nil {
		return m.Silences()
	}
	return nil
}

func (l liveSilences) AddSilence(s alerts.Silence) error {
	if m := l.rt.AlertManager(); m != nil {
		return m.AddSilence(s)
	}
	return errAlertsOff
}

func (l liveSilences) DeleteSilence(id string) (bool, error) {
	if m := l.rt.AlertManager(); m != nil {
		return m.DeleteSilence(id)
	}
	return false, errAlertsOff
}

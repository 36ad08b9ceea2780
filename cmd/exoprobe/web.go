package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/web"
)

// The HTTP surface of `run` (and so of `demo`): metrics, JSON API and the
// status page from package web, mounted on the daemon's mux. The daemon's
// own /healthz and POST /-/reload stay more specific and win.
func init() {
	mountHTTP(func(mux *http.ServeMux, rt *Runtime) {
		started := time.Now()
		var deliveries func(int) []alerts.Delivery
		if rt.Alerts != nil {
			deliveries = rt.Alerts.Recent
		}
		mux.Handle("/", web.NewHandler(rt.Scheduler, web.Options{
			Logger:          rt.Log,
			Registry:        rt.Metrics,
			AlertDeliveries: deliveries,
			ConfigStatus:    func() web.ConfigStatus { return configStatus(rt, started) },
			SparseCauses:    rt.SparseCauses,
			Ready:           func() error { return ready(rt) },
			Tenants:         tenantViews(rt),
		}))
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

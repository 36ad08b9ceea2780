package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/report"
)

func init() {
	register("alerts", "alert sinks: `alerts test --sink NAME` sends a sample alert (marked as a test; resolved right after for PagerDuty and Alertmanager) to check the wiring", alertsCmd)
}

func alertsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprintln(stderr, "usage: exoprobe alerts test --sink NAME [--config FILE] [--lang en|ja]")
		return exitUsage
	}
	fs := flag.NewFlagSet("alerts test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "exoprobe.yaml", "configuration file")
	sinkName := fs.String("sink", "", "name of the sink under alerts.sinks (required)")
	lang := fs.String("lang", "", "override the sink's language (en or ja)")
	tries := fs.Int("tries", 3, "tries for temporary failures")
	if err := parseFlags(fs, args[1:], stderr); err != nil {
		return parseExit(err)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ac, err := alerts.ParseConfig(&cfg.Alerts)
	if err != nil {
		fmt.Fprintf(stderr, "config %s: %v\n", *cfgPath, err)
		return exitUsage
	}
	var names []string
	var pick *alerts.SinkConfig
	for i := range ac.Sinks {
		names = append(names, ac.Sinks[i].Name)
		if ac.Sinks[i].Name == *sinkName {
			pick = &ac.Sinks[i]
		}
	}
	sort.Strings(names)
	if pick == nil {
		fmt.Fprintf(stderr, "alerts test: no sink %q in %s (sinks: %v)\n", *sinkName, *cfgPath, names)
		return exitUsage
	}
	if *lang != "" {
		pick.Lang = *lang
	}
	one := alerts.Config{Sinks: []alerts.SinkConfig{*pick}, RepeatInterval: ac.RepeatInterval}
	if err := checkAlertApps(cfg, &one); err != nil {
		fmt.Fprintf(stderr, "config %s: %v\n", *cfgPath, err)
		return exitUsage
	}
	sinks, _, err := one.BuildWith(alertTokens(cfg))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	resolved, err := alerts.SendTest(ctx, sinks[0], ac.StatusURL, *tries, alerts.Backoff{Base: time.Second, Max: 10 * time.Second})
	if err != nil {
		fmt.Fprintf(stderr, "alerts test: %s (%s): failed (%s): %s\n", pick.Name, pick.Type, alerts.ReasonOf(err), report.Inert(err.Error()))
		return exitFail
	}
	// Incident receivers got the resolve too: say so, so nobody goes
	// looking for an incident to close.
	what := "sample alert accepted"
	if resolved {
		what = "sample alert accepted and resolved"
	}
	fmt.Fprintf(stdout, "alerts test: %s (%s): %s in %v\n", pick.Name, pick.Type, what,
		time.Since(start).Round(time.Millisecond))
	return exitOK
}

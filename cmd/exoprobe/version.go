package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// revision is the VCS revision Go stamped into the binary ("" when built
// outside a checkout).
func revision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func init() {
	register("version", "print the version (also: exoprobe --version)", func(args []string, stdout, stderr io.Writer) int {
		rev := ""
		if r := revision(); r != "" {
			rev = " " + r
		}
		fmt.Fprintf(stdout, "exoprobe %s%s %s %s/%s\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	})
}

// buildInfo is exoprobe_build_info, the constant 1 labelled with what was
// built, as every Prometheus exporter publishes it.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "exoprobe_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision, goversion, goos and goarch from which exoprobe was built.",
	}, []string{"version", "revision", "goversion", "goos", "goarch"})
	g.WithLabelValues(version, revision(), runtime.Version(), runtime.GOOS, runtime.GOARCH).Set(1)
	return g
}

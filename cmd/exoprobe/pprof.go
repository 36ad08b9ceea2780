//go:build pprof

package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// A build with -tags pprof serves the runtime's profiles on
// EXOPROBE_PPROF_ADDR (a loopback address such as 127.0.0.1:6060), on a
// listener of its own so that profiling never shares the web surface's
// protection or its port. It is for measuring the daemon at fleet scale
// (bench/fleet); release builds do not contain it.
func init() {
	addr := os.Getenv("EXOPROBE_PPROF_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		panic("EXOPROBE_PPROF_ADDR must be a loopback host:port")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go http.ListenAndServe(addr, mux)
}

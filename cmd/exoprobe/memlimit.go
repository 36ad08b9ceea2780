package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Memory limit defaults (see setMemoryLimit).
const (
	memLimitBase     = 64 << 20
	memLimitPerCheck = 2816 // 2.75 KiB
)

// defaultMemoryLimit is the soft memory limit for a fleet of this many
// checks: 64 MiB plus 2.75 KiB a check (60,000 checks: 225 MiB; 120,000:
// 386 MiB), capped at 90 % of the cgroup's memory.max when there is one.
//
// Measured with the real daemon (bench/fleet, 60,000 checks): the live
// heap is about 20 MB plus 2.1 KB a check, and the runtime's own memory
// (stacks, span and GC metadata, pages not yet returned) takes about
// 40 MB of the limit, so this leaves the collector a headroom of about
// a third of the live heap. Without a limit the headroom is the whole
// live heap (GOGC=100 lets the heap double between collections), which
// took the process's anonymous memory past 300 MiB. With 173 MiB the
// heap's goal (140 MB) was barely above the live heap (121 MB, growing)
// and the collector ran every 0.8 s.
func defaultMemoryLimit(checks int, cgroupMax int64) int64 {
	limit := int64(memLimitBase) + int64(checks)*memLimitPerCheck
	if cgroupMax > 0 {
		limit = min(limit, cgroupMax/10*9)
	}
	return limit
}

// setMemoryLimit gives the Go runtime its default soft memory limit when
// GOMEMLIMIT is not set. It is a soft limit: past it the collector runs
// more often (at most about half the CPU), the daemon does not fail.
// GOMEMLIMIT in the environment takes precedence, as in every Go program
// (GOMEMLIMIT=off: no limit, GOGC alone paces the collector).
func setMemoryLimit(checks int, log *slog.Logger) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		freeParseGarbage()
		return
	}
	limit := defaultMemoryLimit(checks, cgroupMemoryMax())
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
	freeParseGarbage()
}

// freeParseGarbage returns the configuration parse's garbage to the OS
// before the daemon builds its state: the YAML node trees of a
// 120,000-check file are about 300 MB, and without this the state was
// built on top of them (start-up peak 457 MB RSS, measured with
// bench/fleet). One collection, tens of milliseconds, once per start.
func freeParseGarbage() { debug.FreeOSMemory() }

// cgroupMemoryMax reads cgroup v2's memory.max of this process (0 when
// unlimited or unknown).
func cgroupMemoryMax() int64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0 // "max"
	}
	return n
}

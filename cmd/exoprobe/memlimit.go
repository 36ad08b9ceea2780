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
	memLimitBase     = 32 << 20
	memLimitPerCheck = 2458 // 2.4 KiB
)

// defaultMemoryLimit is the soft memory limit for a fleet of this many
// checks: 32 MiB plus 2.4 KiB a check (60,000 checks: 173 MiB; 120,000:
// 313 MiB), capped at 90 % of the cgroup's memory.max when there is one.
//
// Measured with the real daemon (bench/fleet), the live heap is about
// 20 MB plus 2.1 KB a check, so the limit leaves about a third of the
// live heap as the collector's headroom. Without a limit the headroom is
// the whole live heap (GOGC=100 lets the heap double between
// collections), which at 60,000 checks took the process's anonymous
// memory to 300 MiB and more. The price is more frequent collections:
// each one marks the live heap, so the collector's share of CPU grows.
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
		return
	}
	limit := defaultMemoryLimit(checks, cgroupMemoryMax())
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
}

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

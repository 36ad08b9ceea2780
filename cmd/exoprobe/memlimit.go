package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// setMemoryLimit gives the Go runtime a soft memory limit when GOMEMLIMIT
// is not set, so that the heap's headroom (GOGC doubles the live heap
// between collections) does not push a large fleet's peak RSS past what
// the machine or the container allows: 90 % of the cgroup's memory.max
// when there is one, else 256 MiB plus 2 KiB per check (60,000 checks:
// about 373 MiB; the daemon's live heap at that size is about a third of
// it). It is a soft limit: past it the collector runs more often (at most
// about half the CPU), the daemon does not fail. GOMEMLIMIT=off (or any
// value) in the environment takes precedence, as in every Go program.
func setMemoryLimit(checks int, log *slog.Logger) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	limit := int64(256<<20) + int64(checks)*2048
	src := "default"
	if cg := cgroupMemoryMax(); cg > 0 {
		limit, src = cg/10*9, "cgroup"
	}
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit, "from", src)
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

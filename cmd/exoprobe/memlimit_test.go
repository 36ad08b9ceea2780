package main

import "testing"

func TestDefaultMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		checks int
		cgroup int64
		want   int64
	}{
		{0, 0, 64 << 20},
		{60000, 0, 64<<20 + 60000*2816},
		{60000, 1 << 30, 64<<20 + 60000*2816},    // the cgroup leaves room: the fleet's figure
		{60000, 128 << 20, (128 << 20) / 10 * 9}, // a tighter cgroup wins
	} {
		if got := defaultMemoryLimit(tc.checks, tc.cgroup); got != tc.want {
			t.Errorf("defaultMemoryLimit(%d, %d) = %d, want %d", tc.checks, tc.cgroup, got, tc.want)
		}
	}
	if got := defaultMemoryLimit(60000, 0) >> 20; got < 220 || got > 230 {
		t.Errorf("60,000 checks: %d MiB, want the documented 225 MiB", got)
	}
}

package scheduler

// persistBacklogged says whether the store has fallen a whole queue behind
// the probes (updates handed to the persister and not yet committed); the
// caller holds s.mu. dispatch then starts nothing until the persister
// catches up and wakes it. A probe frees its in-flight slot before it
// hands its update to the persister, so without this hold a store slower
// than the probes left one goroutine per finished probe blocked on the
// queue, each with its attempt: at 120,000 checks on a loaded machine
// that was 53,000 goroutines, 447 MB of stacks and a live heap past the
// memory limit (bench/fleet). Holding shows instead as start lag.
func (s *Scheduler) persistBacklogged() bool {
	return s.unpublished.Load() >= int64(cap(s.persist))
}

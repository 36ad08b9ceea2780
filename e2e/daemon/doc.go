// Package daemon holds end-to-end tests of `exoprobe run` as an operator runs
// it: the binary built once, started as its own process against the Exchange
// Online emulator, driven by the emulator's cmdlets, killed with SIGKILL and
// restarted on the same data directory. It has no non-test code.
package daemon

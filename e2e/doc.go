// Package e2e holds end-to-end tests of the exoprobe binary: `check`,
// `diagnose` and `sim exec` run as a user would run them, against the
// in-process Exchange Online emulator and against a private Dovecot from
// Debian's packages. It has no code of its own; everything is in _test.go
// files so that nothing imports it.
package e2e

// Package sasl holds the two SASL mechanisms Exchange Online speaks that
// emersion's go-sasl does not provide: XOAUTH2 (Google's and Microsoft's
// bearer-token mechanism) and LOGIN. Each has a client, used by the probes,
// and a server, used by the emulator; both satisfy go-sasl's interfaces.
package sasl

import "errors"

// Mechanism names as they appear on the wire.
const (
	XOAUTH2 = "XOAUTH2"
	Login   = "LOGIN"
)

// ErrMalformed is returned by servers for a response they cannot parse.
var ErrMalformed = errors.New("sasl: malformed client response")

// Package sim is the Exchange Online emulator put together: it builds the
// tenant, a private CA and its certificates, and runs the IMAP, POP3 and
// SMTP servers, the Entra token endpoint and the cmdlet admin endpoint on
// 127.0.0.1, then writes endpoints.json so that scripts and real clients
// can find them. `exoprobe sim` and the tests start it through Start.
//
// Ports, when Options.PortBase is set (0 picks free ports):
//
//	base+0  IMAP, implicit TLS (993-style)
//	base+1  IMAP, STARTTLS (143-style)
//	base+2  POP3, implicit TLS (995-style)
//	base+3  POP3, STLS (110-style)
//	base+4  SMTP submission, STARTTLS (587-style)
//	base+5  Entra token endpoint, HTTPS
//	base+6  admin endpoint (cmdlets), HTTP on 127.0.0.1 only
package sim

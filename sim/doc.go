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
//	base+5  HTTPS: Entra token endpoint, Microsoft Graph (/v1.0/, /beta/)
//	        and Exchange's admin API (/adminapi/beta/{tenant}/InvokeCommand)
//	base+6  admin endpoint (cmdlets), HTTP on 127.0.0.1 only
//
// The tenant-read APIs (../shared/tenant-api.md) share the token endpoint's
// listener, told apart by path: sim/graph serves security defaults,
// Conditional Access, the sign-in log, applications and service
// principals; sim/adminapi runs the Exchange Get- cmdlets of sim/cmdlet
// over InvokeCommand. Both authorize from the token the same listener
// issues: Graph from its roles claim (the app's GraphRoles), InvokeCommand
// from Exchange.ManageAsApp in roles plus a directory role in wids. Every
// Basic IMAP/POP/SMTP login that reaches Entra and every token request
// writes a sign-in row (sim/tenant/signinlog.go), visible to Graph after
// the log's delay (2 minutes unless Set-SimTenant -SignInLogDelay) and only
// on a P1/P2 tenant (Set-SimTenant -EntraLicense). endpoints.json names
// graph_url, invoke_command_url, their token scopes and a read-only
// "reader" app.
package sim

package diagnose

import (
	"slices"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

// Real client and server wordings (issue 8 item 4). Each text is quoted
// from the public source named beside it; the test holds its own copies.
func TestClientAndStandardWords(t *testing.T) {
	cases := []struct {
		source string
		p      probe.Protocol
		m      probe.Mechanism
		text   string
		want   Cause
	}{
		// nodemailer lib/smtp-connection/index.js: the greeting timeout
		// and the connection timeout, both code ETIMEDOUT.
		{"nodemailer greeting timeout", probe.SMTP, probe.Basic, "Error: Greeting never received", CauseTimeout},
		{"nodemailer connection timeout", probe.SMTP, "", "Error: Connection timeout\n    at SMTPConnection._formatError (node_modules/nodemailer/lib/smtp-connection/index.js:784:19) { code: 'ETIMEDOUT', command: 'CONN' }", CauseTimeout},
		// Python: TimeoutError from connect(2) ETIMEDOUT; socket.timeout.
		{"python smtplib connect timeout", probe.SMTP, probe.Basic, "TimeoutError: [Errno 110] Connection timed out", CauseTimeout},
		{"python imaplib socket timeout", probe.IMAP, probe.Basic, "socket.timeout: timed out", CauseTimeout},
		// .NET / MailKit: System.TimeoutException.
		{".NET MailKit timeout", probe.IMAP, probe.XOAUTH2, "System.TimeoutException: The operation has timed out.", CauseTimeout},
		// JavaMail over java.net: MailConnectException wrapping
		// SocketTimeoutException.
		{"JavaMail connect timeout", probe.SMTP, probe.Basic, "com.sun.mail.util.MailConnectException: Couldn't connect to host, port: smtp.office365.com, 587; timeout 30000;\n  nested exception is:\n\tjava.net.SocketTimeoutException: connect timed out", CauseTimeout},
		// curl error 28 (CURLE_OPERATION_TIMEDOUT).
		{"curl 28", probe.IMAP, probe.Basic, "curl: (28) Connection timed out after 10001 milliseconds", CauseTimeout},

		// OpenSSL SSL_R_WRONG_VERSION_NUMBER as OpenSSL 1.1 and Python's
		// ssl module print it; Go crypto/tls's RecordHeaderError text.
		{"OpenSSL wrong version number", probe.SMTP, probe.Basic, "140736120415168:error:1408F10B:SSL routines:ssl3_get_record:wrong version number:../ssl/record/ssl3_record.c:331:", CauseTLSModeMismatch},
		{"Python ssl WRONG_VERSION_NUMBER", probe.SMTP, probe.Basic, "ssl.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1129)", CauseTLSModeMismatch},
		{"Go crypto/tls", probe.IMAP, probe.Basic, "tls: first record does not look like a TLS handshake", CauseTLSModeMismatch},

		// DNS: Node's getaddrinfo, glibc via Python's socket.gaierror,
		// Windows WSAHOST_NOT_FOUND (11001) via .NET, curl error 6.
		{"node ENOTFOUND", probe.SMTP, probe.Basic, "Error: getaddrinfo ENOTFOUND smtp.office365.cm", CauseNetworkError},
		{"python gaierror", probe.IMAP, probe.Basic, "socket.gaierror: [Errno -2] Name or service not known", CauseNetworkError},
		{".NET 11001", probe.SMTP, probe.Basic, "System.Net.Sockets.SocketException (11001): No such host is known.", CauseNetworkError},
		{"curl 6", probe.IMAP, probe.Basic, "curl: (6) Could not resolve host: outlook.office365.com", CauseNetworkError},
		{"node ECONNREFUSED", probe.SMTP, probe.Basic, "Error: connect ECONNREFUSED 127.0.0.1:587", CauseNetworkError},
		// A proxy in the way: Go net/http's "proxyconnect tcp", curl 56.
		{"curl 56 proxy 407", probe.SMTP, probe.Basic, "curl: (56) CONNECT tunnel failed, response 407", CauseNetworkError},
		// The same failures on the way to the token endpoint: 443.
		{"Go proxyconnect to the token endpoint", probe.IMAP, probe.XOAUTH2, "Post \"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token\": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: connection refused", CauseTokenEndpointUnreachable},
		{"node ENOTFOUND token endpoint", probe.IMAP, probe.XOAUTH2, "Error: getaddrinfo ENOTFOUND login.microsoftonline.com", CauseTokenEndpointUnreachable},

		// OAuth libraries' HTTP errors from the token endpoint.
		// golang.org/x/oauth2 RetrieveError: "oauth2: cannot fetch token:
		// <status>\nResponse: <body>" (here with the description only).
		{"x/oauth2 invalid_client", probe.SMTP, probe.XOAUTH2, "oauth2: cannot fetch token: 401 Unauthorized\nResponse: {\"error\":\"invalid_client\",\"error_description\":\"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-0000-0000-0000-000000000001'.\"}", CauseTokenRequestFailed},
		// Python requests raise_for_status against the v2.0 endpoint.
		{"python requests 401", probe.IMAP, probe.XOAUTH2, "requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", CauseTokenRequestFailed},
		// MSAL Python's acquire_token_for_client result, printed as a dict.
		{"MSAL Python dict", probe.SMTP, probe.XOAUTH2, "{'error': 'unauthorized_client', 'error_description': 'The client is not authorized to request a token using this method.', 'error_codes': []}", CauseTokenRequestFailed},
		{"error field interaction_required", probe.SMTP, probe.XOAUTH2, "oauth2: cannot fetch token: 400 Bad Request\nResponse: {\"error\":\"interaction_required\"}", CauseMFARequired},

		// Entra sentences without their AADSTS code (learn.microsoft.com
		// AADSTS reference wording).
		{"50126 sentence", probe.SMTP, probe.XOAUTH2, "Error validating credentials due to invalid username or password.", CauseBadCredentials},
		{"53003 sentence", probe.SMTP, probe.XOAUTH2, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", CauseConditionalAccess},
		{"65001 sentence", probe.IMAP, probe.XOAUTH2, "The user or administrator has not consented to use the application with ID '00000000-0000-0000-0000-000000000001' named 'scanner'.", CauseOAuthNotAuthorized},
		{"7000222 sentence", probe.SMTP, probe.XOAUTH2, "The provided client secret keys for app '00000000-0000-0000-0000-000000000001' are expired.", CauseTokenRequestFailed},

		// RFC 3463 / RFC 5248 registry codes from servers other than
		// Exchange, and their words.
		{"X.7.13 User Account Disabled", probe.SMTP, probe.Basic, "535 5.7.13 User Account Disabled", CauseLoginDisabled},
		{"X.7.13 in a sentence", probe.SMTP, probe.Basic, "535 5.7.13 User account is disabled", CauseLoginDisabled},
		{"50057 sentence", probe.SMTP, probe.XOAUTH2, "User account is disabled. The account has been disabled by an administrator.", CauseAccountDisabled},
		{"RFC 4954 535 5.7.8", probe.SMTP, probe.Basic, "535 5.7.8 Authentication credentials invalid", CauseBadCredentials},
		{"RFC 4954 535 5.7.8 xoauth2", probe.SMTP, probe.XOAUTH2, "535 5.7.8 Authentication credentials invalid", CauseOAuthTokenInvalid},
		// Gmail's SMTP replies (support.google.com/mail/?p=BadCredentials,
		// ?p=InvalidSecondFactor), multi-line as smtplib prints them.
		{"Gmail 535 5.7.8", probe.SMTP, probe.Basic, "(535, b'5.7.8 Username and Password not accepted. Learn more at\\n5.7.8  https://support.google.com/mail/?p=BadCredentials d2-20020a05600c34c200b0040c4b0f2c31sm1234567wmq.1 - gsmtp')", CauseBadCredentials},
		{"Gmail 534 5.7.9", probe.SMTP, probe.Basic, "(534, b'5.7.9 Application-specific password required. Learn more at\\n5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor d2-20020a05600c34c200b0040c4b0f2c31sm1234567wmq.1 - gsmtp')", CauseAppPasswordRequired},
		{"Invalid login or password", probe.IMAP, probe.Basic, "a1 NO Invalid login or password", CauseBadCredentials},
		// Dovecot login-common/client-common-auth.c,
		// CLIENT_AUTH_FAIL_CODE_LOGIN_DISABLED.
		{"Dovecot login disabled", probe.IMAP, probe.Basic, "a1 NO Login disabled for this user", CauseLoginDisabled},
		// RFC 4954 §6: 534 5.7.9 and 538 5.7.11.
		{"RFC 4954 534 5.7.9", probe.SMTP, probe.Basic, "534 5.7.9 Authentication mechanism is too weak", CauseAuthMechanismUnsupported},
		{"RFC 4954 538 5.7.11", probe.SMTP, probe.Basic, "538 5.7.11 Encryption required for requested authentication mechanism", CauseTLSError},

		// I6 after a password login (the LOGIN reply pasted with it): the
		// protocol is off, not an OAuth problem.
		{"I6 after LOGIN, mechanism read off the text", probe.IMAP, "", "a1 OK LOGIN completed.\na2 BAD User is authenticated but not connected.", CauseProtocolDisabled},
	}
	for _, c := range cases {
		f := ClassifyReply(c.p, c.m, c.text)
		if f.Cause != c.want {
			t.Errorf("%s: %s, want %s\n  evidence %q", c.source, f.Cause, c.want, f.Evidence)
			continue
		}
		if slices.Contains(otherServerWords, c.source) && !Generic(f.Cause) {
			t.Errorf("%s: Exchange-specific cause %s for another server's words", c.source, f.Cause)
		}
		if c.want == CauseOAuthNotAuthorized || c.want == CauseProtocolDisabled {
			continue
		}
		for _, e := range f.Evidence {
			if strings.Contains(e, "token endpoint refused") && c.want == CauseTokenEndpointUnreachable {
				t.Errorf("%s: says the endpoint refused: %q", c.source, e)
			}
		}
	}
}

var otherServerWords = []string{"X.7.13 User Account Disabled", "X.7.13 in a sentence", "RFC 4954 535 5.7.8", "Gmail 535 5.7.8", "Gmail 534 5.7.9",
	"Invalid login or password", "Dovecot login disabled", "RFC 4954 534 5.7.9", "RFC 4954 538 5.7.11"}

// With the mechanism unknown, diagnose never names a cause that holds for
// one mechanism only and that it only inferred: it stays unknown, ranks the
// candidates and says what decides.
func TestUnknownMechanismNamesNoMechanismCause(t *testing.T) {
	for _, text := range []string{
		"A3 BAD User is authenticated but not connected.", // I6
		"A01 NO AUTHENTICATE failed.",                     // I3/I5
	} {
		f := ClassifyReply(probe.IMAP, "", text)
		if f.Cause != CauseUnknown || len(f.Candidates) < 2 {
			t.Errorf("%q: %s candidates %v", text, f.Cause, f.Candidates)
		}
		if !strings.Contains(strings.Join(f.Evidence, "\n"), "to decide") {
			t.Errorf("%q: evidence does not say what decides: %q", text, f.Evidence)
		}
	}
	// The whole corpus, pasted without a mechanism.
	for _, c := range corpus {
		f := ClassifyReply(c.p, "", c.text)
		if mechanismSpecific[f.Cause] && f.Confidence != Definitive && inferMechanism(c.text) == "" &&
			f.Cause != CauseProtocolDisabled && f.Cause != CauseBasicAuthDisabled {
			t.Errorf("%s without a mechanism: %s/%s", c.row, f.Cause, f.Confidence)
		}
		if f.Cause == CauseOAuthNotAuthorized || f.Cause == CauseOAuthTokenInvalid {
			if f.Confidence != Definitive && inferMechanism(c.text) == "" {
				t.Errorf("%s without a mechanism: an OAuth cause %s it cannot support", c.row, f.Cause)
			}
		}
	}
}

// Every rule for other servers' and clients' words names a generic cause.
func TestStandardAndClientRulesGeneric(t *testing.T) {
	for _, r := range append(append([]rule{}, standardRules...), clientRules...) {
		if !Generic(r.cause) {
			t.Errorf("rule %q: cause %s is Exchange's", r.en, r.cause)
		}
	}
}

// A client's own words are reported as the client's, not as the server's.
func TestClientWordsAreTheClients(t *testing.T) {
	f := ClassifyReply(probe.SMTP, probe.Basic, "Error: Greeting never received")
	ev := strings.Join(f.Evidence, "\n")
	if !strings.Contains(ev, "the client reported") || strings.Contains(ev, "the server said") {
		t.Errorf("evidence: %s", ev)
	}
}

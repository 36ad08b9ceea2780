package diagnose

import (
	"testing"

	"github.com/exoprobe/exoprobe/probe"
)

// corpus rows: the server texts verbatim from /work/shared/exo-responses.md
// §1, with their row ids. These are the test's own copies: package diagnose
// never sees the emulator's strings, so the two stay independent witnesses.
var corpus = []struct {
	row  string
	p    probe.Protocol
	m    probe.Mechanism
	text string
	want Cause
	conf Confidence
}{
	{"S2", probe.SMTP, probe.XOAUTH2, "235 2.7.0 Authentication successful", CauseOK, Definitive},
	{"S4", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [TY1PR01CA0183.jpnprd01.prod.outlook.com]", CauseSMTPAuthDisabledTenant, Definitive},
	{"S5", probe.SMTP, probe.XOAUTH2, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [MN2PR05CA0004.namprd05.prod.outlook.com 2023-09-12T20:59:57.214Z 08DBB276B7E699C4]", CauseSMTPAuthDisabledTenant, Definitive},
	{"S6", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", CauseSMTPAuthDisabledMbx, Definitive},
	{"S6-xoauth2", probe.SMTP, probe.XOAUTH2, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", CauseSMTPAuthDisabledMbx, Definitive},
	{"S7", probe.SMTP, probe.XOAUTH2, "SmtpClientAuthentication is disabled for the Mailbox", CauseSMTPAuthDisabledMbx, Definitive},
	{"S8", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.", CauseSecurityDefaults, Definitive},
	{"S9", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BM1P287CA0015.INDP287.PROD.OUTLOOK.COM]", CauseBasicAuthDisabled, Definitive},
	{"S9-ts", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [PN0PR01CA0024.INDPRD01.PROD.OUTLOOK.COM 2025-01-26T18:54:30.055Z 08DD3DD7D75D7743]", CauseBasicAuthDisabled, Definitive},
	{"S10", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. [PH0PR07CA0004.namprd07.prod.outlook.com]", CauseBadCredentials, Definitive},
	{"S11", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator. [BN9PR03CA0716.namprd03.prod.outlook.com 2026-07-01T01:57:31.695Z 08DED6A3FAA75B29]", CauseConditionalAccess, Inferred},
	{"S12", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator. [CH2PR19CA0002.namprd19.prod.outlook.com 2026-08-28T19:45:50.437Z 08DF04C6D9A404E7]", CauseAccountLocked, Definitive},
	{"S13", probe.SMTP, probe.Basic, "535 5.7.139 Authentication unsuccessful, account has an issue. Contact your administrator. [AM8P190CA0003.EURP190.PROD.OUTLOOK.COM 2024-10-04T07:21:07.773Z 08DCE3FEF68EE81B]", CauseAccountDisabled, Inferred},
	{"S14", probe.SMTP, probe.Basic, "550 5.7.30 Basic authentication is not supported for Client Submission.", CauseBasicAuthRetired, Definitive},
	{"S15", probe.SMTP, probe.XOAUTH2, "535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", CauseOAuthTokenInvalid, Inferred},
	{"S15-mailkit", probe.SMTP, probe.XOAUTH2, "535: 5.7.3 Authentication unsuccessful [AM0PR06CA0126.eurprd06.prod.outlook.com 2024-02-14T14:50:26.590Z 08DC2D372B4C3DED]", CauseOAuthTokenInvalid, Inferred},
	{"S16", probe.SMTP, probe.Basic, "535 5.7.3 Authentication unsuccessful [BN3PR03CA0067.namprd03.prod.outlook.com]", CauseBadCredentials, Inferred},
	{"S16-ts", probe.SMTP, probe.Basic, "535 5.7.3 Authentication unsuccessful [YQZPR01CA0021.CANPRD01.PROD.OUTLOOK.COM 2024-04-13T15:44:48.786Z 08DC5BA2C153C1D0]", CauseBadCredentials, Inferred},
	{"S17", probe.SMTP, probe.Basic, "504 5.7.4 Unrecognized authentication type [DBBPR09CA0015.eurprd09.prod.outlook.com]", CauseAuthMechanismUnsupported, Definitive},
	{"S18", probe.SMTP, probe.Basic, "504 5.7.4 Unrecognized authentication type [SN1NAM02FT025.eop-nam02.prod.protection.outlook.com]", CauseAuthMechanismUnsupported, Definitive},
	{"S19", probe.SMTP, probe.XOAUTH2, "501 5.5.124 Invalid XOAUTH2 auth data", CauseOAuthTokenInvalid, Inferred},
	{"S20", probe.SMTP, probe.Basic, "530 5.7.57 Client not authenticated to send mail. [US22278CA0034.US7P278.PROD.OUTLOOK.COM 2024-10-24…", CauseUnknown, Unsure},
	{"S21", probe.SMTP, probe.Basic, "5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM [AM0PR10CA0081.EURPRD10.PROD.OUTLOOK.COM]", CauseUnknown, Unsure},
	{"S22", probe.SMTP, probe.Basic, "451 5.7.3 STARTTLS is required to send mail [SG2PR02CA0073.apcprd02.prod.outlook.com 2024-07-24T03:43:18.298Z 08DCAB6EB788477A]", CauseTLSError, Definitive},
	{"S23", probe.SMTP, probe.Basic, "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls. [SA9P221CA0019.NAMP221.PROD.OUTLOOK.COM]", CauseTLSError, Definitive},
	{"S24", probe.SMTP, probe.Basic, "421 4.3.2 Service not active [TYAPR01CA0229.jpnprd01.prod.outlook.com]", CauseThrottled, Inferred},
	{"S25", probe.SMTP, probe.Basic, "4.7.0 Temporary server error. Please try again later. PRX4 [AM5PR0701CA0008.eurprd07.prod.outlook.com]", CauseThrottled, Inferred},
	{"S26", probe.SMTP, probe.Basic, "Mailbox cannot be accessed [CWXP265CA0023.GBRP265.PROD.OUTLOOK.COM]", CauseUnknown, Unsure},
	{"S27", probe.SMTP, probe.Basic, "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded [Hostname=DM5SPR00MB2471.namprd08.prod.outlook.com]", CauseThrottled, Definitive},
	{"S28", probe.SMTP, probe.Basic, "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", CauseThrottled, Definitive},
	{"S29", probe.SMTP, probe.Basic, "5.7.60 SMTP; Client does not have permissions to send as this sender", CauseUnknown, Unsure},
	{"S30", probe.SMTP, probe.XOAUTH2, "430 4.2.0 STOREDRV; mailbox logon failure; STOREDRV.Submission.Exception:ConnectionFailedTransientException.MapiExceptionLogonFailed; Failed to process message due to a transient exception with message [BeginDiagnosticData]Cannot open mailbox. Server = XXXX281MB3300.DEUP281.PROD.OUTLOOK.COM", CauseOAuthNotAuthorized, Inferred},

	{"I1", probe.IMAP, probe.Basic, "0001 OK LOGIN completed.", CauseOK, Definitive},
	{"I2", probe.IMAP, probe.Basic, "2 NO LOGIN failed.", CauseUnknown, Unsure},
	{"I2-tag", probe.IMAP, probe.Basic, "PEAA1 NO LOGIN failed.", CauseUnknown, Unsure},
	{"I3", probe.IMAP, probe.Basic, "A00000001 NO AUTHENTICATE failed.", CauseUnknown, Unsure},
	{"I4", probe.IMAP, probe.XOAUTH2, "A01 OK AUTHENTICATE completed.", CauseOK, Definitive},
	{"I5", probe.IMAP, probe.XOAUTH2, "A01 NO AUTHENTICATE failed.", CauseOAuthTokenInvalid, Inferred},
	{"I6", probe.IMAP, probe.XOAUTH2, "A3 BAD User is authenticated but not connected.", CauseOAuthNotAuthorized, Inferred},
	{"I6-basic", probe.IMAP, probe.Basic, "A3 BAD User is authenticated but not connected.", CauseProtocolDisabled, Inferred},
	{"I7", probe.IMAP, probe.XOAUTH2, "* BYE Connection closed. 14", CauseUnknown, Unsure},
	{"I8", probe.IMAP, probe.XOAUTH2, "* BYE Session invalidated - AccessTokenExpired", CauseOAuthTokenInvalid, Definitive},
	{"I9", probe.IMAP, probe.XOAUTH2, "2959 NO AUTHENTICATE failed.\n2960 BAD Command received in Invalid state.", CauseOAuthTokenInvalid, Inferred},
	{"I10", probe.IMAP, probe.Basic, "1069 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds", CauseThrottled, Definitive},
	{"I10-bad", probe.IMAP, probe.XOAUTH2, "BAD Request is throttled. Suggested Backoff Time: 178755 milliseconds", CauseThrottled, Definitive},
	{"I11", probe.IMAP, probe.XOAUTH2, "NO Server Unavailable. 15", CauseThrottled, Inferred},
	{"I12", probe.IMAP, probe.Basic, "a1 NO Basic authentication is disabled.", CauseBasicAuthDisabled, Definitive},
	{"I14", probe.IMAP, probe.Basic, "0001 BAD Command Argument Error. 12", CauseUnknown, Unsure},
	{"I16", probe.IMAP, probe.Basic, "LOGIN failed. Account is blocked. Login to your account via a web browser to verify your identity.", CauseAccountLocked, Inferred},
	{"I17", probe.IMAP, probe.Basic, "a0002 BAD Command received in Invalid state.", CauseUnknown, Unsure},
	{"I18", probe.IMAP, probe.Basic, "This account has IMAP disabled", CauseProtocolDisabled, Inferred},

	{"P2", probe.POP, probe.Basic, "+OK User successfully logged on.", CauseOK, Definitive},
	{"P3", probe.POP, probe.Basic, "-ERR Logon failure: unknown user name or bad password.", CauseUnknown, Unsure},
	{"P5", probe.POP, probe.XOAUTH2, "+OK User successfully authenticated.", CauseOK, Definitive},
	{"P6", probe.POP, probe.XOAUTH2, "-ERR Authentication failure: unknown user name or bad password.", CauseOAuthTokenInvalid, Inferred},
	{"P7", probe.POP, probe.Basic, "-ERR Server Unavailable. 21", CauseThrottled, Inferred},
	{"P8", probe.POP, probe.Basic, "-ERR Basic authentication is disabled", CauseBasicAuthDisabled, Definitive},
	{"P11", probe.POP, probe.Basic, "This account has POP disabled", CauseProtocolDisabled, Inferred},
}

func TestCorpusRows(t *testing.T) {
	for _, c := range corpus {
		t.Run(c.row, func(t *testing.T) {
			f := ClassifyReply(c.p, c.m, c.text)
			if f.Cause != c.want || f.Confidence != c.conf {
				t.Fatalf("%s: got %s/%s, want %s/%s\nevidence: %q", c.row, f.Cause, f.Confidence, c.want, c.conf, f.Evidence)
			}
			if len(f.Evidence) == 0 || len(f.EvidenceJA) != len(f.Evidence) {
				t.Fatalf("%s: evidence en=%d ja=%d", c.row, len(f.Evidence), len(f.EvidenceJA))
			}
			if f.Remedy.Summary == "" {
				t.Fatalf("%s: no remedy attached", c.row)
			}
		})
	}
}

// The same rows, as a probe would record them (reply on the attempt, no
// wrapper), through Classify.
func TestCorpusRowsAsAttempts(t *testing.T) {
	for _, c := range corpus {
		a := probe.Attempt{Protocol: c.p, Mechanism: c.m, Stage: probe.StageAuth, Reply: c.text, ErrorKind: probe.ErrRefused}
		if c.want == CauseOK {
			a = probe.Attempt{Protocol: c.p, Mechanism: c.m, Stage: probe.StageDone, OK: true, AuthReply: c.text}
		}
		f := Classify([]probe.Attempt{a})[0]
		if f.Cause != c.want {
			t.Errorf("%s: Classify got %s, want %s", c.row, f.Cause, c.want)
		}
	}
}

// The bracket and its timestamp and trace id never decide: the same
// sentence with any bracket gives the same finding.
func TestBracketDoesNotMatter(t *testing.T) {
	base := "535 5.7.139 Authentication unsuccessful, account locked. Contact your administrator."
	for _, b := range []string{"", " [X.Y]", " [CH2PR19CA0002.namprd19.prod.outlook.com 2026-08-28T19:45:50.437Z 08DF04C6D9A404E7]", " [AB.CD 2020-01-01T00:00:00.000Z FFFF]"} {
		f := ClassifyReply(probe.SMTP, probe.Basic, base+b)
		if f.Cause != CauseAccountLocked || f.Evidence[0] != ClassifyReply(probe.SMTP, probe.Basic, base).Evidence[0] {
			t.Errorf("bracket %q changed the finding: %s %q", b, f.Cause, f.Evidence)
		}
	}
}

package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKeep(t *testing.T) {
	token := "token request failed: invalid_client: " + strings.Repeat("x", 200) + " AADSTS7000215: Invalid client secret provided. Trace ID: 1234"
	smtp := "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
	tests := []struct {
		in   string
		n    int
		want []string
	}{
		{token, 80, []string{"AADSTS7000215", "token request failed"}},
		{smtp, 30, []string{"535", "5.7.139"}},
		{"short", 80, []string{"short"}},
		{strings.Repeat("y", 100) + " 554 5.7.1 refused", 40, []string{"5.7.1"}},
	}
	for _, tc := range tests {
		got := Keep(tc.in, tc.n)
		if utf8.RuneCountInString(got) > tc.n && tc.in != "short" {
			t.Errorf("Keep(%.30q, %d) = %q: %d runes", tc.in, tc.n, got, utf8.RuneCountInString(got))
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("Keep(%.30q, %d) = %q lacks %q", tc.in, tc.n, got, w)
			}
		}
	}
	if got := Codes(smtp); strings.Join(got, ",") != "535,5.7.139" {
		t.Errorf("Codes = %v", got)
	}
}

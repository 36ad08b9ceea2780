package cmdlet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// render shows tokens compactly: kind:text, parameters as -Name or -Name:.
func render(toks []token) string {
	var parts []string
	for _, t := range toks {
		switch t.kind {
		case tEOF:
		case tParam:
			s := "-" + t.text
			if t.colon {
				s += ":"
			}
			parts = append(parts, s)
		case tWord:
			parts = append(parts, "w("+t.text+")")
		case tString:
			parts = append(parts, "s("+t.text+")")
		case tVar:
			parts = append(parts, "$"+t.text)
		case tPlaceholder:
			parts = append(parts, "ph("+t.text+")")
		default:
			parts = append(parts, t.kind.String())
		}
	}
	return strings.Join(parts, " ")
}

func TestLex(t *testing.T) {
	tests := []struct{ line, want, err string }{
		{line: "Get-TransportConfig", want: "w(Get-TransportConfig)"},
		{line: "Set-X -A:$false -B $True", want: "w(Set-X) -A: $false -B $True"},
		{line: `Set-X 'it''s' "say ""hi"" ` + "`t" + `"`, want: "w(Set-X) s(it's) s(say \"hi\" \t)"},
		{line: "Set-X user@contoso.com 30s -5", want: "w(Set-X) w(user@contoso.com) w(30s) w(-5)"},
		{line: `Add-X -R @("a","b") -S a,b`, want: `w(Add-X) -R '@(' s(a) ',' s(b) ')' -S w(a) ',' w(b)`},
		{line: "Set-User -T $([System.DateTime]::UtcNow)", want: "w(Set-User) -T '$(' w([System.DateTime]::UtcNow) ')'"},
		{line: "Get-X | Select A,B; Get-Y", want: "w(Get-X) '|' w(Select) w(A) ',' w(B) ';' w(Get-Y)"},
		{line: "Set-X -Identity <Policy Name> -A", want: "w(Set-X) -Identity ph(<Policy Name>) -A"},
		{line: "Get-X # comment | Select", want: "w(Get-X)"},
		{line: "Set-X `\n -A", want: "w(Set-X) -A"},
		{line: "Set-X a`-b", want: "w(Set-X) w(a-b)"},
		{line: "Set-X \u2018q\u2019 \u201cd\u201d \u2013A", want: "w(Set-X) s(q) s(d) -A"},
		{line: "", want: ""},
		{line: "   \t ", want: ""},
		{line: "Get-X 'open", err: "missing the terminator: '"},
		{line: `Get-X "open`, err: `missing the terminator: "`},
		{line: `Get-X "$env:USER"`, err: "use single quotes"},
		{line: "Get-X { $_ }", err: "script blocks"},
		{line: "Get-X > out.txt", err: "redirection"},
		{line: "Get-X < in", err: "reserved"},
		{line: "Get-X $", err: "variable name must follow"},
		{line: "Get-X || Get-Y", err: "'||'"},
		{line: "Get-X & Get-Y", err: "'&'"},
	}
	for _, tc := range tests {
		toks, err := lex(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("lex(%q) error %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("lex(%q): %v", tc.line, err)
			continue
		}
		if got := render(toks); got != tc.want {
			t.Errorf("lex(%q)\n got %s\nwant %s", tc.line, got, tc.want)
		}
	}
}

// describe prints a parsed value for comparison.
func describe(e *expr) string {
	switch e.kind {
	case eStr:
		if e.quoted {
			return fmt.Sprintf("%q", e.s)
		}
		return e.s
	case eBool:
		return fmt.Sprint(e.b)
	case eNull:
		return "null"
	case eNow:
		return fmt.Sprintf("now%+v", e.offset)
	}
	var parts []string
	for _, x := range e.list {
		parts = append(parts, describe(x))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestParse(t *testing.T) {
	tests := []struct{ line, want, err string }{
		{line: "Set-X -A", want: "Set-X -A"},
		{line: "Set-X -A:$FALSE -B $Null", want: "Set-X -A:false -B null"},
		{line: "Set-X -A:-5", want: "Set-X -A:-5"},
		{line: "Set-X -A:-Foo", want: "Set-X -A:-Foo"},
		{line: `Set-X -R @("a", 'b')`, want: `Set-X -R ["a" "b"]`},
		{line: `Set-X -R @()`, want: `Set-X -R []`},
		{line: `Set-X -R @('a')`, want: `Set-X -R ["a"]`},
		{line: "Set-X -R a, b ,c", want: "Set-X -R [a b c]"},
		{line: "Set-X -R (a,b)", want: "Set-X -R [a b]"},
		{line: "Set-X -T $([DateTime]::UtcNow)", want: "Set-X -T now0s"},
		{line: "Set-X -T $([datetime]::Now)", want: "Set-X -T now0s"},
		{line: "Set-X -T (Get-Date)", want: "Set-X -T now0s"},
		{line: "Set-X -T $(Get-Date -AsUTC)", want: "Set-X -T now0s"},
		{line: "Set-X -T (Get-Date).ToUniversalTime()", want: "Set-X -T now0s"},
		{line: "Set-X -T (Get-Date).AddDays(-1).AddHours(2)", want: "Set-X -T now-22h0m0s"},
		{line: "Set-X -T $((Get-Date).ToUniversalTime())", want: "Set-X -T now0s"},
		{line: "Set-X -T (Get-Date) .ToUniversalTime()", err: "unexpected ')'"},
		{line: "Set-X -T $([Math]::Pi)", err: "cannot evaluate"},
		{line: "Set-X -T (Get-Date -Format o)", err: "Get-Date -Format"},
		{line: "Set-X -T (Get-Date).Foo()", err: "not supported"},
		{line: "Set-X -T (Get-Date).AddDays(x)", err: "needs a number"},
		{line: "Set-X -T (a).ToUpper()", err: "not supported"},
		{line: "Set-X -T $(Get-Date", err: "missing closing"},
		{line: "Set-X -A $x", err: "'$x' cannot be retrieved"},
		{line: "Set-X -A:", err: "missing an argument after -A:"},
		{line: "Set-X -A: | fl", err: "missing an argument after -A:"},
		{line: "Get-X |", err: "empty pipe element"},
		{line: "Get-X | | fl", err: "empty pipe element"},
		{line: "'Get-X'", err: "expected a cmdlet name"},
		{line: "<cmdlet>", err: "replace <cmdlet>"},
		{line: "Set-X )", err: "unexpected ')'"},
		{line: "Set-X -A ,", err: "unexpected"},
	}
	for _, tc := range tests {
		pls, err := parse(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parse(%q) error %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parse(%q): %v", tc.line, err)
			continue
		}
		c := pls[0][0]
		parts := []string{c.name}
		for _, e := range c.elems {
			switch {
			case e.param && e.colon:
				parts = append(parts, "-"+e.name+":"+describe(e.val))
			case e.param:
				parts = append(parts, "-"+e.name)
			default:
				parts = append(parts, describe(e.val))
			}
		}
		if got := strings.Join(parts, " "); got != tc.want {
			t.Errorf("parse(%q) = %s, want %s", tc.line, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Set-SimUser alice -Password 'hunter2'", "Set-SimUser alice -Password ********"},
		{"Set-SimUser alice -password:hunter2 -Locked", "Set-SimUser alice -password:******** -Locked"},
		{"Set-SimUser alice -Pass hunter2; Get-SimState", "Set-SimUser alice -Pass ********; Get-SimState"},
		{`Set-SimUser alice -Password "hunter2`, "Set-SimUser alice -Password ********"},
		{"Set-TransportConfig -SmtpClientAuthenticationDisabled $true", "Set-TransportConfig -SmtpClientAuthenticationDisabled $true"},
	}
	for _, tc := range tests {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	for s, want := range map[string]time.Time{
		"2026-01-02":                time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC),
		"2026-01-02T03:04:05+02:00": time.Date(2026, 1, 2, 1, 4, 5, 0, time.UTC),
		"1/2/2026 3:04 PM":          time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC),
	} {
		got, ok := parseDate(s)
		if !ok || !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v %v, want %v", s, got, ok, want)
		}
	}
	if _, ok := parseDate("13/45/2026"); ok {
		t.Error("parseDate accepted 13/45/2026")
	}
}

func FuzzExec(f *testing.F) {
	for _, s := range append(articleLines,
		"Set-X -A:$false -B $True 'it''s' \"q\"",
		"Add-MailboxPermission -Identity alice -User bob -AccessRights @('FullAccess','ReadPermission') -Confirm:$false",
		"Set-User alice -STSRefreshTokensValidFrom (Get-Date).AddMinutes(-5); Get-User alice | fl *",
		"Get-CasMailbox | Select -First 1 Name,PopEnabled | ft",
		"Set-SimUser alice -Password `\n 'x' # c",
		"$(((",
		"@(@(@()",
		"Get-X -\u2013",
	) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				panic(fmt.Sprintf("hang on %q", line))
			}
		}()
		_ = Redact(line)
		_, in, _ := fixture()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = in.Exec(ctx, line)
	})
}

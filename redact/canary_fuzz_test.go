package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// canaries are passwords and tokens of the shapes people use; each must
// change under URL encoding so that form is tested too.
var canaries = []string{"Kan4ry-S3cr3t!x9", "pA55w0rd#Canary", "c4n4ry.t0k3n~Zz", "Zq9!canary%pw"}

// templates are realistic lines carrying a credential: %C is the encoded
// canary, %P base64 of a SASL PLAIN message with it, %X the XOAUTH2
// initial response, %B base64 of "user:canary" (HTTP Basic).
var templates = []string{
	"AUTH PLAIN %P",
	"C: AUTH PLAIN %P",
	"send: 'AUTH PLAIN %P\\r\\n'",
	"a1 AUTHENTICATE PLAIN %P",
	"AUTH XOAUTH2 %X",
	"a1 AUTHENTICATE XOAUTH2 %X",
	"C: %P",
	"%X",
	"a1 LOGIN u@contoso.com %C",
	`a1 LOGIN "u@contoso.com" "%C"`,
	"PASS %C",
	"Authorization: Basic %B",
	"Authorization: Bearer %C",
	`{"Authorization": "Bearer %C"}`,
	"auth=Bearer %C",
	"pass=%C",
	"password=%C&user=u",
	"SMTP_PASSWORD=%C",
	"token=%C",
	"access_token: %C",
	`{"client_secret": "%C", "grant_type": "client_credentials"}`,
	"secret: %C",
	`secret: "%C"`,
	"imaps://u%40contoso.com:%C@outlook.office365.com:993/",
	"smtp://u:%C@smtp.office365.com:587",
	"server.login('u@contoso.com', '%C')",
	"--password %C",
}

var prefixes = []string{"", "2026-12-03T10:00:00Z ", "Dec  3 10:00:00 host app[42]: ", "[2026-12-03 10:00:00,123] DEBUG ",
	"time=2026-12-03T10:00:00Z level=INFO msg=", ">>> ", "SMTP> ", "-> "}

func encodeCanary(c string, enc uint8) string {
	switch enc % 4 {
	case 1:
		return base64.StdEncoding.EncodeToString([]byte(c))
	case 2:
		return url.QueryEscape(c)
	case 3:
		return base64.RawURLEncoding.EncodeToString([]byte(c))
	}
	return c
}

func plant(tmpl, c string, enc uint8) string {
	r := strings.NewReplacer(
		"%C", encodeCanary(c, enc),
		"%P", base64.StdEncoding.EncodeToString([]byte("\x00u@contoso.com\x00"+c)),
		"%X", base64.StdEncoding.EncodeToString([]byte("user=u@contoso.com\x01auth=Bearer "+c+"\x01\x01")),
		"%B", base64.StdEncoding.EncodeToString([]byte("u@contoso.com:"+c)))
	return r.Replace(tmpl)
}

// leaks returns the form of c found in out, if any.
func leaks(out, c string) string {
	for _, f := range []string{c, url.QueryEscape(c),
		base64.StdEncoding.EncodeToString([]byte(c)), base64.RawURLEncoding.EncodeToString([]byte(c)),
		base64.StdEncoding.EncodeToString([]byte("\x00u@contoso.com\x00" + c)),
		base64.StdEncoding.EncodeToString([]byte("u@contoso.com:" + c))} {
		if strings.Contains(out, f) {
			return f
		}
	}
	return ""
}

// FuzzCanary plants a canary credential, raw, base64 or URL-encoded, in a
// realistic line at a random position (after a random log prefix, before
// random text, between other lines) and checks that no form of it survives
// Text, which is what `exoprobe diagnose` applies to what it echoes.
func FuzzCanary(f *testing.F) {
	for i := range templates {
		for enc := range uint8(4) {
			f.Add(uint8(i), enc, uint8(i), uint8(i%len(prefixes)), "", " trailing words")
		}
	}
	f.Add(uint8(0), uint8(0), uint8(0), uint8(1), "534 5.7.9 please log in\n", "\n535 5.7.139 Authentication unsuccessful")
	f.Fuzz(func(t *testing.T, ti, enc, ci, pi uint8, before, after string) {
		c := canaries[int(ci)%len(canaries)]
		if !utf8.ValidString(before) || !utf8.ValidString(after) || leaks(before+after, c) != "" {
			t.Skip()
		}
		// Random text touches the line only across a separator: glued to
		// the credential it would be part of the credential.
		line := prefixes[int(pi)%len(prefixes)] + plant(templates[int(ti)%len(templates)], c, enc)
		in := before + line + "\n" + strings.TrimLeft(after, "\n")
		if before != "" {
			in = before + "\n" + line + "\n" + after
		}
		out := Text(in)
		if l := leaks(out, c); l != "" {
			t.Fatalf("canary %q leaked as %q\n in: %q\nout: %q", c, l, in, out)
		}
	})
}

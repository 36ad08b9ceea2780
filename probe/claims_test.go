package probe

import (
	"strings"
	"testing"
	"time"
)

func TestClaimsProblems(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour).Unix()
	cases := []struct {
		name   string
		claims map[string]any
		p      Protocol
		user   string
		want   []string // problem codes, in order
	}{
		{"app token ok", map[string]any{"aud": "https://outlook.office365.com", "roles": []string{"IMAP.AccessAsApp"}, "exp": exp}, IMAP, "a@b", nil},
		{"app token without roles", map[string]any{"aud": "https://outlook.office365.com", "exp": exp}, IMAP, "a@b", []string{ProblemNoPermission}},
		{"app token wrong role", map[string]any{"aud": "00000002-0000-0ff1-ce00-000000000000", "roles": []string{"IMAP.AccessAsApp"}, "exp": exp}, SMTP, "a@b", []string{ProblemMissingRole}},
		{"graph audience", map[string]any{"aud": "https://graph.microsoft.com", "scp": "Mail.Send", "exp": exp}, SMTP, "a@b", []string{ProblemAudGraph}},
		{"expired", map[string]any{"aud": "https://outlook.office.com", "scp": "IMAP.AccessAsUser.All", "upn": "a@b", "exp": now.Add(-time.Minute).Unix()}, IMAP, "a@b", []string{ProblemExpired}},
		{"delegated missing scope", map[string]any{"aud": "https://outlook.office.com", "scp": "IMAP.AccessAsUser.All SMTP.Send", "upn": "a@b", "exp": exp}, POP, "A@B", []string{ProblemMissingScope}},
		{"upn mismatch", map[string]any{"aud": "https://outlook.office.com/", "scp": "POP.AccessAsUser.All", "preferred_username": "x@b", "exp": exp}, POP, "a@b", []string{ProblemUserMismatch}},
		{"ps.outlook.com app token", map[string]any{"aud": "https://ps.outlook.com", "roles": []string{"IMAP.AccessAsApp"}, "exp": exp}, IMAP, "a@b", []string{ProblemAudUnusual}},
		{"ps.outlook.com token without roles: the audience is the fix", map[string]any{"aud": "https://ps.outlook.com/", "exp": exp}, SMTP, "a@b", []string{ProblemAudUnusual}},
		{"ps.outlook.com expired", map[string]any{"aud": "https://ps.outlook.com", "exp": now.Add(-time.Minute).Unix()}, POP, "a@b", []string{ProblemExpired, ProblemAudUnusual}},
		{"ps.outlook.com beside outlook.office365.com", map[string]any{"aud": []string{"https://ps.outlook.com", "https://outlook.office365.com"}, "roles": []string{"IMAP.AccessAsApp"}, "exp": exp}, IMAP, "a@b", nil},
		{"other server's token", map[string]any{"aud": "dovecot", "exp": exp}, IMAP, "a@b", nil},
		{"aud list", map[string]any{"aud": []string{"x", "https://graph.microsoft.com"}, "exp": exp}, IMAP, "a@b", []string{ProblemAudGraph}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := Inspect(Token{AccessToken: testJWT(c.claims), Flow: "static"}, c.p, c.user, now)
			var codes []string
			for _, p := range info.Problems {
				code, _, _ := strings.Cut(p, ":")
				codes = append(codes, code)
			}
			if strings.Join(codes, ",") != strings.Join(c.want, ",") {
				t.Errorf("problems = %q, want codes %v", info.Problems, c.want)
			}
		})
	}
}

func TestInspectOpaqueToken(t *testing.T) {
	info := Inspect(Token{AccessToken: "ya29.opaque-google-token", Flow: "static"}, IMAP, "a@b", time.Now())
	if len(info.Problems) != 1 || !strings.HasPrefix(info.Problems[0], ProblemNotJWT) {
		t.Errorf("problems = %q", info.Problems)
	}
}

func FuzzParseClaims(f *testing.F) {
	f.Add(testJWT(map[string]any{"aud": "https://outlook.office365.com", "roles": []string{"IMAP.AccessAsApp"}, "exp": 1e9}))
	f.Add("a.b.c")
	f.Add("eyJ.eyJhdWQiOjF9.x")
	f.Add("..")
	f.Add(testJWT(map[string]any{"aud": []any{1, "x"}, "scp": []string{"a b"}, "exp": "soon"}))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ParseClaims(tok)
		if err != nil {
			return
		}
		// Whatever parsed must be usable without panics.
		_ = c.Problems(IMAP, "a@b", time.Now())
		_ = Inspect(Token{AccessToken: tok}, SMTP, "", time.Now())
	})
}

// The oid claim reaches TokenInfo: remedies fill <ObjectId> from an
// application token's oid (the enterprise application's object id).
func TestInspectObjectID(t *testing.T) {
	tok := testJWT(map[string]any{"aud": "https://outlook.office365.com", "roles": []string{"IMAP.AccessAsApp"},
		"oid": "b7e4d2c1-6a5f-4b3e-8d9c-0a1b2c3d4e5f", "exp": time.Now().Add(time.Hour).Unix()})
	info := Inspect(Token{AccessToken: tok, Flow: "client_credentials"}, IMAP, "a@b", time.Now())
	if info.ObjectID != "b7e4d2c1-6a5f-4b3e-8d9c-0a1b2c3d4e5f" {
		t.Errorf("ObjectID = %q", info.ObjectID)
	}
}

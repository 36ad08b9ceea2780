package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 9: url_file (and url_env) contents are checked when the sinks are
// built, at start and reload, not when the first alert fails; the error
// names the file, never the contents.
func TestURLFileValidatedAtBuild(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, contents string }{
		{"no scheme", "hooks.slack.com/services/T0K3N/SECRETPART\n"},
		{"ftp", "ftp://hooks.slack.com/services/SECRETPART"},
		{"spaces", "https://hooks.slack.com/services/ SECRETPART"},
		{"no host", "https:///SECRETPART"},
	} {
		f := filepath.Join(dir, tc.name)
		if err := os.WriteFile(f, []byte(tc.contents), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parse(t, "sinks:\n  - {name: s, type: slack, url_file: '"+f+"'}\n")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.BuildWith(nil)
		if err == nil || !strings.Contains(err.Error(), "url_file "+f) || strings.Contains(err.Error(), "SECRETPART") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	t.Setenv("EXOPROBE_TEST_TEAMS_URL", "teams.example/SECRETPART")
	c, _ := parse(t, "sinks:\n  - {name: s, type: teams, url_env: EXOPROBE_TEST_TEAMS_URL}\n")
	if _, _, err := c.BuildWith(nil); err == nil || !strings.Contains(err.Error(), "url_env") || strings.Contains(err.Error(), "SECRETPART") {
		t.Errorf("url_env: %v", err)
	}
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("https://127.0.0.1:1/hook\n"), 0o600)
	c, _ = parse(t, "sinks:\n  - {name: s, type: slack, url_file: '"+good+"'}\n")
	if _, _, err := c.BuildWith(nil); err != nil {
		t.Errorf("good url_file: %v", err)
	}
}

package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/exoprobe/exoprobe/config"
)

func parse(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	return ParseConfig(&n)
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"unknown key", "sinks:\n  - {name: a, type: webhook, url: http://127.0.0.1/x, colour: red}\n", `line 2: unknown key "colour"`},
		{"unknown top key", "group_waits: 1s\n", `line 1: unknown key "group_waits"`},
		{"bad type", "- {type: carrier-pigeon}\n", `unknown type "carrier-pigeon"`},
		{"missing url", "sinks:\n  - {name: s, type: slack}\n", "line 2: sink \"s\": a slack sink needs url"},
		{"bad url hides value", "sinks:\n  - {name: s, type: slack, url: 'ftp://hooks.slack.com/services/T0K'}\n", "url must be an http(s) URL"},
		{"two urls", "sinks:\n  - {name: s, type: teams, url: http://127.0.0.1/, url_env: X}\n", "only one of url"},
		{"pagerduty key", "sinks:\n  - {name: p, type: pagerduty}\n", "routing_key_file"},
		{"email", "sinks:\n  - {name: m, type: email, smtp: nohost}\n", "smtp must be host:port"},
		{"route sink", "sinks:\n  - {name: a, type: memory}\nroutes:\n  - {sinks: [b]}\n", `line 4: route: unknown sink "b"`},
		{"route kind", "sinks:\n  - {name: a, type: memory}\nroutes:\n  - {sinks: [a], kinds: [exploded]}\n", `unknown kind "exploded"`},
		{"matcher", "sinks:\n  - {name: a, type: memory}\nroutes:\n  - {sinks: [a], matchers: ['team~mail']}\n", "matcher"},
		{"silence window", "silences:\n  - {matchers: ['target=x'], starts_at: 2026-12-02T00:00:00Z, ends_at: 2026-12-01T00:00:00Z}\n", "line 2: silence: ends_at"},
		{"duration", "group_wait: soon\n", `line 1: invalid duration "soon"`},
		{"lang", "- {type: memory, lang: fr}\n", "lang must be en or ja"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "T0K") {
				t.Errorf("error echoes the URL: %v", err)
			}
		})
	}
}

// The whole file goes through package config (which keeps alerts: raw and
// refuses inline secrets) and then ParseConfig and Build.
func TestConfigThroughPackageConfig(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "pd")
	if err := os.WriteFile(key, []byte("R0UT1NG\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EXO_SLACK_URL", "https://hooks.slack.com/services/T/B/X")
	doc := `targets:
  - name: scanner
    user: scanner@contoso.com
    password_env: PW
    checks: [{protocol: smtp, mechanism: basic}]
alerts:
  status_url: http://127.0.0.1:9465/
  group_wait: 10s
  sinks:
    - {name: ops, type: slack, url_env: EXO_SLACK_URL, lang: ja}
    - {name: pd, type: pagerduty, routing_key_file: ` + key + `}
    - {name: am, type: alertmanager, url: http://127.0.0.1:9093, labels: {team: mail}}
    - {name: demo, type: memory}
  routes:
    - {matchers: ['team="mail"'], kinds: [regressed, recovered], sinks: [ops, pd]}
  silences:
    - {matchers: ['target="scanner"'], starts_at: 2026-12-01T00:00:00Z, ends_at: 2026-12-01T04:00:00Z}
`
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ac, err := ParseConfig(&cfg.Alerts)
	if err != nil {
		t.Fatal(err)
	}
	sinks, mems, err := ac.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(sinks) != 4 || mems["demo"] == nil {
		t.Fatalf("sinks %d, memory %v", len(sinks), mems)
	}
	if pd := sinks[1].Notifier.(*PagerDuty); pd.RoutingKey.Value() != "R0UT1NG" {
		t.Errorf("routing key not read from its file")
	}
	if s := sinks[0].Notifier.(*Slack); s.URL.Value() != "https://hooks.slack.com/services/T/B/X" || s.Lang != "ja" {
		t.Errorf("slack url/lang")
	}
	o, err := ac.Options(sinks)
	if err != nil || len(o.Routes) != 1 || len(o.Silences) != 1 || o.GroupWait.Seconds() != 10 {
		t.Fatalf("options: %+v %v", o, err)
	}
	// The short form from DESIGN.md.
	short, err := parse(t, "- {type: webhook, url: https://hooks.example/exoprobe}\n")
	if err != nil || len(short.Sinks) != 1 || short.Sinks[0].Name != "webhook" {
		t.Fatalf("short form: %+v %v", short, err)
	}
	// Inline secrets are refused by package config before we see them.
	if _, err := config.Parse([]byte(strings.Replace(doc, "routing_key_file: "+key, "secret: abc", 1))); err == nil {
		t.Error("inline secret accepted")
	}
}

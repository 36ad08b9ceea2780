package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
)

// configKeys walks a config struct's yaml tags into dotted key paths:
// "defaults.hosts.imap", "targets[].checks[].expect",
// "oauth_apps.<name>.client_id".
func configKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		key := prefix + tag
		*out = append(*out, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == reflect.TypeOf(config.OAuthRef{}):
			// `oauth: name` or an inline app with oauth_apps' keys,
			// documented once under oauth_apps.
		case ft == reflect.TypeOf(yaml.Node{}):
			if key == "alerts" {
				configKeys(reflect.TypeOf(alerts.Config{}), "alerts.", out)
			}
		case ft.Kind() == reflect.Struct && ft.PkgPath() != "time":
			configKeys(ft, key+".", out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			configKeys(ft.Elem(), key+"[].", out)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			configKeys(ft.Elem(), key+".<name>.", out)
		}
	}
}

// The README's configuration reference names every key the config
// package (and the alerts section's schema) accepts, so it cannot drift:
// a key added to a struct fails here until it is documented, and a key
// documented but gone fails too.
func TestREADMEConfigReference(t *testing.T) {
	var keys []string
	configKeys(reflect.TypeOf(config.Config{}), "", &keys)
	if len(keys) < 60 {
		t.Fatalf("only %d keys found: the walk is broken", len(keys))
	}
	if testing.Verbose() {
		t.Logf("keys:\n%s", strings.Join(keys, "\n"))
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Configuration reference")
	if start < 0 {
		t.Fatal("README has no \"## Configuration reference\" section")
	}
	end := strings.Index(readme[start+3:], "\n## ")
	section := readme[start:]
	if end >= 0 {
		section = readme[start : start+3+end]
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
		if !strings.Contains(section, "`"+k+"`") {
			t.Errorf("README configuration reference lacks `%s`", k)
		}
	}
	// Every key-shaped name in the reference's first column exists.
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		k := strings.TrimPrefix(line, "| `")
		k = k[:strings.Index(k, "`")]
		if !known[k] {
			t.Errorf("README documents `%s`, which the config does not accept", k)
		}
	}
}

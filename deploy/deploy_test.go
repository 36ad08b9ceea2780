package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exoprobe/exoprobe/alerts"
	"github.com/exoprobe/exoprobe/config"
	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/internal/testenv"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
	"github.com/exoprobe/exoprobe/web"
)

var update = flag.Bool("update", false, "regenerate kubernetes/configmap.yaml from examples/exoprobe.yml")

const (
	examplePath   = "../examples/exoprobe.yml"
	credentialDir = "/run/credentials/exoprobe.service"
	binaryPath    = "/usr/local/bin/exoprobe"
)

// ---- the exoprobe binary, built once --------------------------------------

var bin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// exoprobeBinary builds cmd/exoprobe (without -race: only its flag parsing
// and config check run) so that tests see the real flag set.
func exoprobeBinary(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "exoprobe-deploy-test-")
		if bin.err != nil {
			return
		}
		bin.path = filepath.Join(bin.dir, "exoprobe")
		// go test puts its own go first on PATH.
		gobin, err := exec.LookPath("go")
		if err != nil {
			bin.err = err
			return
		}
		cmd := exec.Command(gobin, "build", "-o", bin.path, "github.com/exoprobe/exoprobe/cmd/exoprobe")
		out, err := cmd.CombinedOutput()
		if err != nil {
			bin.err = fmt.Errorf("go build ./cmd/exoprobe: %v\n%s", err, out)
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

// runFlags returns `exoprobe run`'s flags with their defaults, read from
// its --help output.
func runFlags(t *testing.T) map[string]string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(exoprobeBinary(t), "run", "--help")
	cmd.Stderr = &stderr
	_ = cmd.Run() // flag.ErrHelp exits 2
	flags := map[string]string{}
	re := regexp.MustCompile(`(?m)^  -(\S+)(?: \S+)?\n((?:\s{4,}.*\n)*)`)
	def := regexp.MustCompile(`\(default "([^"]*)"\)`)
	for _, m := range re.FindAllStringSubmatch(stderr.String(), -1) {
		d := ""
		if dm := def.FindStringSubmatch(m[2]); dm != nil {
			d = dm[1]
		}
		flags[m[1]] = d
	}
	for _, want := range []string{"config", "data-dir", "listen", "check-config", "web.config.file"} {
		if _, ok := flags[want]; !ok {
			t.Fatalf("exoprobe run --help does not list -%s; output:\n%s", want, stderr.String())
		}
	}
	return flags
}

// parseArgs reads "--name=value", "--name value" and boolean "--name"
// arguments; the result maps each flag to its value.
func parseArgs(t *testing.T, where string, args []string, known map[string]string) map[string]string {
	t.Helper()
	boolFlags := map[string]bool{"check-config": true}
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: unexpected positional argument %q (run takes none)", where, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if _, ok := known[name]; !ok {
			t.Errorf("%s: flag --%s does not exist in `exoprobe run` (known: %v)", where, name, keys(known))
			continue
		}
		if !hasVal && !boolFlags[name] {
			if i+1 >= len(args) {
				t.Errorf("%s: flag --%s has no value", where, name)
				continue
			}
			i++
			val = args[i]
		}
		out[name] = val
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func listenPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return port
}

// ---- the example configuration --------------------------------------------

func loadExample(t *testing.T) (*config.Config, *alerts.Config) {
	t.Helper()
	cfg, err := config.Load(examplePath)
	if err != nil {
		t.Fatalf("examples/exoprobe.yml: %v", err)
	}
	ac, err := alerts.ParseConfig(&cfg.Alerts)
	if err != nil {
		t.Fatalf("examples/exoprobe.yml alerts: %v", err)
	}
	return cfg, ac
}

// credentialFiles lists every secret file the configuration references.
func credentialFiles(cfg *config.Config, ac *alerts.Config) []string {
	var files []string
	add := func(f ...string) {
		for _, s := range f {
			if s != "" {
				files = append(files, s)
			}
		}
	}
	for _, app := range cfg.OAuthApps {
		add(app.ClientSecretFile, app.CertFile, app.RefreshTokenFile)
	}
	for i := range cfg.Targets {
		tg := &cfg.Targets[i]
		add(tg.PasswordFile, tg.TokenFile)
		if tg.OAuth != nil && tg.OAuth.App != nil {
			add(tg.OAuth.App.ClientSecretFile, tg.OAuth.App.CertFile, tg.OAuth.App.RefreshTokenFile)
		}
	}
	for _, s := range ac.Sinks {
		add(s.URLFile, s.SecretFile, s.RoutingKeyFile, s.PasswordFile)
	}
	sort.Strings(files)
	return slices.Compact(files)
}

// credentialNames are the file names under credentialDir; every secret of
// the example must live there so that systemd's LoadCredential= and the
// Kubernetes Secret mount both serve the same file unchanged.
func credentialNames(t *testing.T) []string {
	t.Helper()
	cfg, ac := loadExample(t)
	var names []string
	for _, f := range credentialFiles(cfg, ac) {
		if filepath.Dir(f) != credentialDir {
			t.Errorf("secret %s is not in %s, where systemd and Kubernetes put credentials", f, credentialDir)
			continue
		}
		names = append(names, filepath.Base(f))
	}
	if len(names) == 0 {
		t.Fatal("the example references no secret files")
	}
	return names
}

func TestExampleConfig(t *testing.T) {
	cfg, ac := loadExample(t)

	type check struct{ proto, mech, expect string }
	has := map[string][]check{}
	appUsers := map[string]int{}
	for _, tg := range cfg.Targets {
		for _, c := range tg.Checks {
			e := c.Expect
			if e == "" {
				e = "ok"
			}
			has[tg.Name] = append(has[tg.Name], check{c.Protocol, c.Mechanism, e})
		}
		if tg.OAuth != nil && tg.OAuth.Name != "" {
			appUsers[tg.OAuth.Name]++
		}
	}
	find := func(want check, noPassword bool) bool {
		for _, tg := range cfg.Targets {
			if noPassword && tg.Password().IsSet() {
				continue
			}
			if slices.Contains(has[tg.Name], want) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		what       string
		want       check
		noPassword bool
	}{
		{"scanner: Basic SMTP expect ok", check{"smtp", "basic", "ok"}, false},
		{"posture: Basic IMAP expect fail", check{"imap", "basic", "fail"}, false},
		{"app-only XOAUTH2 target (no password)", check{"imap", "xoauth2", "ok"}, true},
		{"app-only XOAUTH2 SMTP", check{"smtp", "xoauth2", "ok"}, true},
	} {
		if !find(c.want, c.noPassword) {
			t.Errorf("example lacks %s", c.what)
		}
	}
	shared := false
	for name, n := range appUsers {
		if _, ok := cfg.OAuthApps[name]; ok && n >= 2 {
			shared = true
		}
	}
	if !shared {
		t.Errorf("example has no oauth app shared by two targets: %v", appUsers)
	}
	labelled := 0
	for _, tg := range cfg.Targets {
		if len(tg.Labels) > 0 {
			labelled++
		}
	}
	if labelled != len(cfg.Targets) {
		t.Errorf("%d of %d targets have labels for routing", labelled, len(cfg.Targets))
	}
	if len(ac.Sinks) == 0 || len(ac.Routes) == 0 {
		t.Errorf("example alerts: %d sinks, %d routes; want both", len(ac.Sinks), len(ac.Routes))
	}
	routesOnLabel := false
	for _, r := range ac.Routes {
		for _, m := range r.Matchers {
			lm, err := alerts.ParseMatcher(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range cfg.Targets {
				if _, ok := tg.Labels[lm.Name]; ok {
					routesOnLabel = true
				}
			}
		}
	}
	if !routesOnLabel {
		t.Error("no alert route matches a target label")
	}
	credentialNames(t) // every secret under the credentials directory
}

// The shipped binary accepts the example as the daemon would, without any
// secret present (secrets are read at each attempt, not at load).
func TestExampleCheckConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exoprobeBinary(t), "run", "--check-config", "--config", examplePath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exoprobe run --check-config: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "valid: 3 targets, 7 checks") {
		t.Errorf("check-config output %q", stdout.String())
	}
}

// ---- systemd ----------------------------------------------------------------

// unitDirectives reads a unit file: key -> values in order.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

func TestSystemdUnit(t *testing.T) {
	const unit = "systemd/exoprobe.service"
	d := unitDirectives(t, unit)
	one := func(k string) string {
		if len(d[k]) != 1 {
			t.Errorf("%s: want exactly one %s=, have %q", unit, k, d[k])
			return ""
		}
		return d[k][0]
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "StateDirectory": "exoprobe", "ProtectSystem": "strict",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "ProtectHome": "yes", "PrivateTmp": "yes",
	} {
		if got := one(k); got != want {
			t.Errorf("%s: %s=%q, want %q", unit, k, got, want)
		}
	}
	if got := strings.Fields(one("RestrictAddressFamilies")); !slices.Equal(got, []string{"AF_INET", "AF_INET6", "AF_UNIX"}) {
		t.Errorf("RestrictAddressFamilies=%v", got)
	}
	if got := one("ExecReload"); !regexp.MustCompile(`^/bin/kill -HUP \$MAINPID$`).MatchString(got) {
		t.Errorf("ExecReload=%q does not send SIGHUP to the daemon", got)
	}

	flags := runFlags(t)
	for _, k := range []string{"ExecStart", "ExecStartPre"} {
		f := strings.Fields(one(k))
		if len(f) < 2 || f[0] != binaryPath || f[1] != "run" {
			t.Errorf("%s=%q: want %s run ...", k, strings.Join(f, " "), binaryPath)
			continue
		}
		args := parseArgs(t, k, f[2:], flags)
		if args["config"] != "/etc/exoprobe/exoprobe.yml" {
			t.Errorf("%s: --config %q", k, args["config"])
		}
		if k == "ExecStart" && args["data-dir"] != "${STATE_DIRECTORY}" {
			t.Errorf("ExecStart: --data-dir %q, want the StateDirectory (${STATE_DIRECTORY})", args["data-dir"])
		}
		if k == "ExecStartPre" {
			if _, ok := args["check-config"]; !ok {
				t.Errorf("ExecStartPre should only validate the configuration (--check-config)")
			}
		}
	}

	// Every secret the example configuration references is loaded as a
	// credential, and nothing else is.
	var loaded []string
	for _, lc := range d["LoadCredential"] {
		name, src, _ := strings.Cut(lc, ":")
		if src != "/etc/exoprobe/credentials/"+name {
			t.Errorf("LoadCredential=%s: source should be /etc/exoprobe/credentials/%s", lc, name)
		}
		loaded = append(loaded, name)
	}
	sort.Strings(loaded)
	if want := credentialNames(t); !slices.Equal(loaded, want) {
		t.Errorf("LoadCredential names %v, the example config references %v", loaded, want)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: unit not verified by systemd")
	}
	// verify insists that ExecStart's program exists: point it at the
	// binary just built. Any message (unknown key, bad value) is a failure;
	// systemd-analyze exits 0 on those.
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "exoprobe.service")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(b, []byte(binaryPath), []byte(exoprobeBinary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", tmp)
	cmd.Dir = filepath.Dir(tmp)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// ---- Dockerfile ---------------------------------------------------------------

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	lines := map[string][]string{}
	for _, l := range strings.Split(df, "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			lines[f[0]] = append(lines[f[0]], strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), f[0])))
		}
	}
	jsonArray := func(instr string) []string {
		if len(lines[instr]) != 1 {
			t.Fatalf("Dockerfile: want one %s, have %q", instr, lines[instr])
		}
		var v []string
		if err := json.Unmarshal([]byte(lines[instr][0]), &v); err != nil {
			t.Fatalf("Dockerfile %s is not exec form: %v", instr, err)
		}
		return v
	}
	flags := runFlags(t)

	if len(lines["FROM"]) != 2 {
		t.Errorf("Dockerfile: want a two-stage build, have FROM %q", lines["FROM"])
	} else if !strings.Contains(lines["FROM"][1], "distroless/static") {
		t.Errorf("runtime stage %q is not distroless static", lines["FROM"][1])
	}
	if !strings.Contains(df, "CGO_ENABLED=0 go build") || !strings.Contains(df, "./cmd/exoprobe") {
		t.Error("Dockerfile does not build ./cmd/exoprobe statically")
	}
	if !strings.Contains(df, "/out/exoprobe "+binaryPath) {
		t.Errorf("Dockerfile does not install the binary at %s", binaryPath)
	}
	if ep := jsonArray("ENTRYPOINT"); !slices.Equal(ep, []string{binaryPath}) {
		t.Errorf("ENTRYPOINT %v", ep)
	}
	user := lines["USER"]
	if len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("USER %q: must be one non-root user", user)
	}
	vol := jsonArray("VOLUME")
	cmdArgs := jsonArray("CMD")
	if len(cmdArgs) == 0 || cmdArgs[0] != "run" {
		t.Fatalf("CMD %v: want run ...", cmdArgs)
	}
	args := parseArgs(t, "CMD", cmdArgs[1:], flags)
	if !slices.Equal(vol, []string{args["data-dir"]}) {
		t.Errorf("VOLUME %v is not the --data-dir %q", vol, args["data-dir"])
	}
	if !strings.Contains(df, "examples/exoprobe.yml "+args["config"]) {
		t.Errorf("--config %s is not where the Dockerfile copies the example", args["config"])
	}
	host, port, _ := net.SplitHostPort(args["listen"])
	if host != "" {
		t.Errorf("in a container the daemon must listen on all interfaces, not %q", args["listen"])
	}
	// Listening beyond loopback, writes need the bearer token (issue 9).
	if tf := args["web.write-token-file"]; filepath.Dir(tf) != credentialDir {
		t.Errorf("--web.write-token-file %q: want a file in %s (the credentials mount)", tf, credentialDir)
	}
	defPort := listenPort(t, flags["listen"])
	if port != defPort || !slices.Equal(lines["EXPOSE"], []string{defPort}) {
		t.Errorf("EXPOSE %v, --listen %s; the daemon's default port is %s", lines["EXPOSE"], args["listen"], defPort)
	}
	// The builder's Go matches go.mod's.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil || !strings.Contains(df, "ARG GO_VERSION="+string(m[1])) {
		t.Errorf("Dockerfile GO_VERSION does not match go.mod's go %s", m[1])
	}
}

// ---- Kubernetes --------------------------------------------------------------

type k8sObject struct {
	file string
	kind string
	name string
	doc  map[string]any
}

// dig walks maps and lists: dig(o, "spec", "template", "spec", "containers", 0).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func readK8s(t *testing.T) (objs []k8sObject, files []string) {
	t.Helper()
	paths, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, p := range paths {
		files = append(files, filepath.Base(p))
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for i := 0; ; i++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", p, i, err)
			}
			if doc == nil {
				continue
			}
			o := k8sObject{file: filepath.Base(p), kind: str(doc["kind"]), name: str(dig(doc, "metadata", "name")), doc: doc}
			if str(doc["apiVersion"]) == "" || o.kind == "" || o.name == "" {
				t.Errorf("%s document %d: apiVersion %q kind %q metadata.name %q: all are required",
					p, i, doc["apiVersion"], o.kind, o.name)
			}
			objs = append(objs, o)
		}
		f.Close()
	}
	return objs, files
}

const configMapHeader = `# Generated from examples/exoprobe.yml: edit that file, then run
#   go test ./deploy -run TestKubernetesConfigMap -update
apiVersion: v1
kind: ConfigMap
metadata:
  name: exoprobe-config
data:
  exoprobe.yml: |
`

func TestKubernetesConfigMap(t *testing.T) {
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		var b strings.Builder
		b.WriteString(configMapHeader)
		for _, l := range strings.SplitAfter(string(example), "\n") {
			if strings.TrimSpace(l) == "" {
				b.WriteString(strings.TrimLeft(l, " \t"))
			} else if l != "" {
				b.WriteString("    " + l)
			}
		}
		if err := os.WriteFile("kubernetes/configmap.yaml", []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, _ := readK8s(t)
	for _, o := range objs {
		if o.kind != "ConfigMap" {
			continue
		}
		got := str(dig(o.doc, "data", "exoprobe.yml"))
		if got != string(example) {
			t.Fatalf("kubernetes/configmap.yaml is not examples/exoprobe.yml; run: go test ./deploy -run TestKubernetesConfigMap -update")
		}
		if _, err := config.Parse([]byte(got)); err != nil {
			t.Fatalf("ConfigMap's exoprobe.yml: %v", err)
		}
		return
	}
	t.Fatal("no ConfigMap in kubernetes/")
}

func TestKubernetesManifests(t *testing.T) {
	objs, files := readK8s(t)
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.kind] = append(byKind[o.kind], o)
	}
	only := func(kind string) map[string]any {
		if len(byKind[kind]) != 1 {
			t.Fatalf("want one %s, have %d", kind, len(byKind[kind]))
		}
		return byKind[kind][0].doc
	}
	dep, svc, sec, pvc, cm, kus := only("Deployment"), only("Service"), only("Secret"), only("PersistentVolumeClaim"),
		only("ConfigMap"), only("Kustomization")

	// kustomization.yaml lists every other manifest but the Secret's
	// example: `kubectl apply -k` must not re-apply placeholder values
	// over the real Secret.
	var res []string
	for _, r := range dig(kus, "resources").([]any) {
		res = append(res, str(r))
	}
	sort.Strings(res)
	others := slices.DeleteFunc(slices.Clone(files), func(f string) bool {
		return f == "kustomization.yaml" || strings.HasSuffix(f, ".example.yaml")
	})
	if !slices.Equal(res, others) {
		t.Errorf("kustomization resources %v, files %v", res, others)
	}
	for _, o := range byKind["Secret"] {
		if slices.Contains(res, o.file) {
			t.Errorf("kustomization applies the Secret in %s: re-applying wipes the real one", o.file)
		}
	}

	// One replica, never two at once: the lockout guard is per process.
	if r, _ := dig(dep, "spec", "replicas").(int); r != 1 {
		t.Errorf("replicas %v, want 1", dig(dep, "spec", "replicas"))
	}
	if s := str(dig(dep, "spec", "strategy", "type")); s != "Recreate" {
		t.Errorf("strategy %q: a rolling update runs two replicas at once", s)
	}
	pod := dig(dep, "spec", "template", "spec")
	if containers, _ := dig(pod, "containers").([]any); len(containers) != 1 {
		t.Fatalf("want one container, have %d", len(containers))
	}
	c := dig(pod, "containers", 0)

	// Args are real flags of `exoprobe run`.
	flags := runFlags(t)
	var argv []string
	for _, a := range dig(c, "args").([]any) {
		argv = append(argv, str(a))
	}
	if len(argv) == 0 || argv[0] != "run" {
		t.Fatalf("container args %v: want run ...", argv)
	}
	args := parseArgs(t, "container args", argv[1:], flags)
	host, port, err := net.SplitHostPort(args["listen"])
	if err != nil || host != "" {
		t.Errorf("--listen %q: must be :PORT in a pod", args["listen"])
	}
	if port != listenPort(t, flags["listen"]) {
		t.Errorf("--listen port %s is not the daemon's default %s", port, listenPort(t, flags["listen"]))
	}
	var containerPort int
	for _, p := range dig(c, "ports").([]any) {
		if str(dig(p, "name")) == "http" {
			containerPort, _ = dig(p, "containerPort").(int)
		}
	}
	if fmt.Sprint(containerPort) != port {
		t.Errorf("containerPort http %d, --listen %s", containerPort, args["listen"])
	}

	// Probes on the daemon's health endpoints, which exist.
	for probeName, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(dig(c, probeName, "httpGet", "path")); got != path {
			t.Errorf("%s path %q, want %s", probeName, got, path)
		}
		if got := str(dig(c, probeName, "httpGet", "port")); got != "http" {
			t.Errorf("%s port %q, want the http port", probeName, got)
		}
	}
	h := web.NewHandler(fakeSource(), web.Options{Ready: func() error { return nil }})
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
	}

	// Non-root, read-only root filesystem, nothing to escalate.
	for path, want := range map[string]any{
		"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
	} {
		if got := dig(c, "securityContext", path); got != want {
			t.Errorf("container securityContext.%s = %v, want %v", path, got, want)
		}
	}
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if drop := dig(c, "securityContext", "capabilities", "drop", 0); drop != "ALL" {
		t.Errorf("capabilities.drop %v, want [ALL]", drop)
	}

	// Volumes wire the ConfigMap, the Secret and the PVC to the paths the
	// args use.
	mounts := map[string]string{}
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts[str(dig(m, "name"))] = str(dig(m, "mountPath"))
	}
	vols := map[string]any{}
	for _, v := range dig(pod, "volumes").([]any) {
		vols[str(dig(v, "name"))] = v
	}
	source := func(kind, field string, want string) string {
		for name, v := range vols {
			if str(dig(v, kind, field)) == want {
				return mounts[name]
			}
		}
		t.Errorf("no volume from %s %q", kind, want)
		return ""
	}
	cmName, secName, pvcName := str(dig(cm, "metadata", "name")), str(dig(sec, "metadata", "name")), str(dig(pvc, "metadata", "name"))
	if p := source("configMap", "name", cmName); p+"/exoprobe.yml" != args["config"] {
		t.Errorf("ConfigMap mounted at %q, --config %q", p, args["config"])
	}
	if p := source("persistentVolumeClaim", "claimName", pvcName); p != args["data-dir"] {
		t.Errorf("PVC mounted at %q, --data-dir %q", p, args["data-dir"])
	}
	if p := source("secret", "secretName", secName); p != credentialDir {
		t.Errorf("Secret mounted at %q; the configuration reads %s", p, credentialDir)
	}

	// The Secret has a key per referenced credential, and no value.
	sd, _ := dig(sec, "stringData").(map[string]any)
	if data := dig(sec, "data"); data != nil {
		t.Errorf("Secret has data: %v; only empty stringData placeholders belong here", data)
	}
	if got, want := keys(sd), credentialNames(t); !slices.Equal(got, want) {
		t.Errorf("Secret keys %v, the config references %v", got, want)
	}
	for k, v := range sd {
		if str(v) != "" {
			t.Errorf("Secret key %s has a value; placeholders must be empty", k)
		}
	}

	// Writes are protected (issue 9): the bearer token comes from a Secret
	// volume that is not in the kustomization (so `kubectl apply -k` never
	// puts an empty placeholder over the real token), and is not optional
	// (no pod with unprotected writes); the Service's names are accepted.
	tf := args["web.write-token-file"]
	tokenVol := ""
	for name, p := range mounts {
		if p == filepath.Dir(tf) {
			tokenVol = name
		}
	}
	tokenSecret := str(dig(vols[tokenVol], "secret", "secretName"))
	if tf == "" || tokenSecret == "" {
		t.Errorf("--web.write-token-file %q is not on a Secret volume", tf)
	} else if tokenSecret == secName || slices.Contains(res, tokenSecret+".yaml") {
		t.Errorf("the write token's Secret %q is applied by the kustomization", tokenSecret)
	}
	if opt, _ := dig(vols[tokenVol], "secret", "optional").(bool); opt {
		t.Error("the write token's Secret is optional")
	}
	svcName := str(dig(svc, "metadata", "name"))
	if names := "," + args["web.external-name"] + ","; !strings.Contains(names, ","+svcName+",") ||
		!strings.Contains(names, ","+svcName+"."+str(dig(kus, "namespace"))+".svc,") {
		t.Errorf("--web.external-name %q lacks the Service's names", args["web.external-name"])
	}

	// The Service reaches the pod's http port.
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range dig(svc, "spec", "selector").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("Service selector %s=%v does not match the pod labels %v", k, v, podLabels)
		}
	}
	if tp := dig(svc, "spec", "ports", 0, "targetPort"); tp != "http" {
		t.Errorf("Service targetPort %v", tp)
	}
	if p := dig(svc, "spec", "ports", 0, "port"); fmt.Sprint(p) != port {
		t.Errorf("Service port %v, daemon port %s", p, port)
	}
}

// ---- metrics: what package web really exports --------------------------------

func fakeSource() *source {
	t0 := time.Date(2026, 12, 31, 9, 0, 0, 0, time.UTC)
	basic := scheduler.CheckState{
		ID: scheduler.MakeID("scanner", probe.SMTP, probe.Basic), Target: "scanner", User: "scanner@contoso.com",
		Protocol: probe.SMTP, Mechanism: probe.Basic, Expect: scheduler.ExpectOK, Status: scheduler.StatusFailing,
		Cause: diagnose.CauseBadCredentials, Since: t0, LastRun: t0,
		LastAttempt: &probe.Attempt{Target: "scanner", Protocol: probe.SMTP, Mechanism: probe.Basic, Start: t0,
			Duration: 2 * time.Second, Timings: []probe.StageTiming{{Stage: "connect", Duration: time.Second}}},
		LockoutGuard: &scheduler.GuardState{Account: "scanner@contoso.com", Active: true, Failures: []time.Time{t0}},
	}
	oauth := scheduler.CheckState{
		ID: scheduler.MakeID("app", probe.IMAP, probe.XOAUTH2), Target: "app", User: "app@contoso.com",
		Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Expect: scheduler.ExpectOK, Status: scheduler.StatusOK,
		Cause: diagnose.CauseOK, Since: t0, LastRun: t0,
		LastAttempt: &probe.Attempt{Target: "app", Protocol: probe.IMAP, Mechanism: probe.XOAUTH2, Start: t0, OK: true,
			Duration: time.Second, Token: &probe.TokenInfo{Flow: "client_credentials", ExpiresAt: t0.Add(time.Hour)}},
	}
	return &source{checks: []scheduler.CheckState{basic, oauth}}
}

type source struct{ checks []scheduler.CheckState }

func (s *source) Snapshot() []scheduler.CheckState { return slices.Clone(s.checks) }
func (s *source) Events(int) ([]scheduler.Event, error) {
	return nil, nil
}
func (s *source) History(scheduler.CheckID, int) ([]scheduler.HistoryEntry, error) {
	return nil, nil
}
func (s *source) Stats() scheduler.Stats {
	return scheduler.Stats{Checks: 2, Probes: 10, LagP50: time.Millisecond, LagP99: time.Second, LagMax: time.Second}
}

// exported scrapes web's /metrics with a source that makes every exoprobe_*
// family appear, and returns the metric names and label names.
func exported(t *testing.T) (metrics, labels map[string]bool) {
	t.Helper()
	h := web.NewHandler(fakeSource(), web.Options{ConfigStatus: func() web.ConfigStatus {
		now := time.Now()
		return web.ConfigStatus{LastReloadOK: true, LastReload: now, LastSuccess: now}
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	metrics, labels = map[string]bool{}, map[string]bool{}
	typeRE := regexp.MustCompile(`^# TYPE (\S+) (\S+)$`)
	labelRE := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if m := typeRE.FindStringSubmatch(line); m != nil {
			metrics[m[1]] = true
			if m[2] == "histogram" || m[2] == "summary" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					metrics[m[1]+s] = true
				}
			}
			continue
		}
		if i := strings.IndexByte(line, '{'); i > 0 && !strings.HasPrefix(line, "#") {
			for _, m := range labelRE.FindAllStringSubmatch(line[i:], -1) {
				labels[m[1]] = true
			}
		}
	}
	// The fake must cover every metric web declares, or a family missing
	// here would let a wrong name pass as "not exported".
	src, err := os.ReadFile("../web/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"(exoprobe_[a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		if !metrics[m[1]] {
			t.Fatalf("web/metrics.go declares %s but the fake source does not make it appear: extend fakeSource", m[1])
		}
	}
	// Prometheus adds these to every scraped series.
	labels["job"], labels["instance"] = true, true
	return metrics, labels
}

// ---- PromQL references ---------------------------------------------------------

var (
	promFuncs = map[string]bool{}
	promWords = map[string]bool{}
)

func init() {
	for _, f := range strings.Fields(`abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max
		clamp_min count count_over_time count_values day_of_month day_of_week delta deriv exp floor group
		histogram_quantile holt_winters hour idelta increase irate label_join label_replace last_over_time ln log2
		log10 max max_over_time min min_over_time minute month predict_linear present_over_time quantile
		quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev stddev_over_time stdvar sum
		sum_over_time time timestamp topk vector year`) {
		promFuncs[f] = true
	}
	for _, w := range strings.Fields(`and or unless bool offset inf nan by without on ignoring group_left group_right`) {
		promWords[w] = true
	}
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	promToken    = regexp.MustCompile(`\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]?|[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelName    = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// promRefs returns the metric names and label names a PromQL expression
// uses. It is not a parser: enough for the expressions of this directory.
func promRefs(expr string) (metrics, labels []string, err error) {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllStringFunc(s, func(m string) string {
		for _, part := range strings.Split(strings.Trim(m, "{}"), ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			name := strings.TrimSpace(part[:strings.IndexAny(part+"=", "=!")])
			labels = append(labels, name)
		}
		return " "
	})
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllStringFunc(s, func(m string) string {
		inner := promGrouping.FindStringSubmatch(m)[2]
		for _, l := range strings.Split(inner, ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		return " "
	})
	if strings.ContainsAny(s, "{}[]$") {
		return nil, nil, fmt.Errorf("cannot read %q (left: %q)", expr, s)
	}
	for _, loc := range promToken.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || promWords[tok] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			if !promFuncs[tok] {
				return nil, nil, fmt.Errorf("%q: unknown function %s", expr, tok)
			}
			continue
		}
		metrics = append(metrics, tok)
	}
	for _, l := range labels {
		if !labelName.MatchString(l) {
			return nil, nil, fmt.Errorf("%q: bad label name %q", expr, l)
		}
	}
	return metrics, labels, nil
}

func TestPromRefs(t *testing.T) {
	for _, c := range []struct {
		expr            string
		metrics, labels string
	}{
		{`up{job="exoprobe"} == 0`, "up", "job"},
		{`sum(rate(exoprobe_probes_total{job=~"$job"}[$__rate_interval]))`, "exoprobe_probes_total", "job"},
		{"(a{status=\"x\"} == 1) * on (target, protocol) group_left (cause) (b{cause!=\"ok\"} == 1)", "a b",
			"status cause target protocol cause"},
		{`max by (stage) (m{stage!="total"}) - time() < 6e2`, "m", "stage stage"},
	} {
		m, l, err := promRefs(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(m, " ") != c.metrics || strings.Join(l, " ") != c.labels {
			t.Errorf("promRefs(%q) = %v %v, want %s / %s", c.expr, m, l, c.metrics, c.labels)
		}
	}
	if _, _, err := promRefs(`nosuchfunc(x)`); err == nil {
		t.Error("an unknown function passed")
	}
}

// checkExpr fails the test when expr uses a metric or label that exoprobe
// does not export (builtin lists what Prometheus itself provides).
func checkExpr(t *testing.T, where, expr string, metrics, labels map[string]bool, builtin ...string) []string {
	t.Helper()
	ms, ls, err := promRefs(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return nil
	}
	for _, m := range ms {
		if !metrics[m] && !slices.Contains(builtin, m) {
			t.Errorf("%s: metric %s is not exported by exoprobe (expr %q)", where, m, expr)
		}
	}
	for _, l := range ls {
		if !labels[l] {
			t.Errorf("%s: label %s is not on any exoprobe metric (expr %q)", where, l, expr)
		}
	}
	return ms
}

// anyExoprobeName checks every exoprobe_* word of a file, comments and
// annotation templates included.
func anyExoprobeName(t *testing.T, file string, metrics map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\bexoprobe_[a-z0-9_]+`).FindAllString(string(b), -1) {
		if !metrics[m] {
			t.Errorf("%s mentions %s, which exoprobe does not export", file, m)
		}
	}
}

// ---- Prometheus ----------------------------------------------------------------

func TestPrometheusRulesUseExportedMetrics(t *testing.T) {
	metrics, labels := exported(t)
	b, err := os.ReadFile("prometheus/exoprobe-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	alertsSeen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alertsSeen[r.Alert] = true
			checkExpr(t, r.Alert, r.Expr, metrics, labels, "up")
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"ExoprobeLoginFailing", "ExoprobeBasicAuthUnexpectedlyWorks", "ExoprobeLockoutGuardActive",
		"ExoprobeTokenExpiringSoon", "ExoprobeConfigReloadFailed", "ExoprobeSchedulerLagHigh", "ExoprobeDown"} {
		if !alertsSeen[want] {
			t.Errorf("alert %s missing", want)
		}
	}
	// The rules' job="exoprobe" is the job the scrape snippet defines.
	sb, err := os.ReadFile("prometheus/scrape-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	var sc struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(sb, &sc); err != nil {
		t.Fatal(err)
	}
	if len(sc.ScrapeConfigs) != 1 || sc.ScrapeConfigs[0].JobName != "exoprobe" {
		t.Errorf("scrape-config.yml jobs %+v, want one job exoprobe (the rules select job=\"exoprobe\")", sc.ScrapeConfigs)
	}
	if !bytes.Contains(b, []byte(`up{job="exoprobe"}`)) {
		t.Error(`the rules no longer watch up{job="exoprobe"}`)
	}
	anyExoprobeName(t, "prometheus/exoprobe-rules.yml", metrics)
	anyExoprobeName(t, "prometheus/exoprobe-rules.test.yml", metrics)
	anyExoprobeName(t, "prometheus/scrape-config.yml", metrics)
}

// promtool checks the rules' syntax, runs their unit tests (each main alert
// fires on exoprobe-shaped series, not before its `for:`) and checks the
// scrape config.
func TestPromtool(t *testing.T) {
	promtool := testenv.Require(t, "promtool", "/usr/bin/promtool")
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", "prometheus/exoprobe-rules.yml")
	run("test", "rules", "prometheus/exoprobe-rules.test.yml")

	// The snippet names the rules at their installed path; point it at ours.
	b, err := os.ReadFile("prometheus/scrape-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("prometheus/exoprobe-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	const installed = "/etc/prometheus/rules/exoprobe-rules.yml"
	if !bytes.Contains(b, []byte(installed)) {
		t.Fatalf("scrape-config.yml no longer loads %s", installed)
	}
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(tmp, bytes.ReplaceAll(b, []byte(installed), []byte(abs)), 0o644); err != nil {
		t.Fatal(err)
	}
	run("check", "config", tmp)
}

// ---- Grafana ---------------------------------------------------------------------

func TestGrafanaDashboard(t *testing.T) {
	metrics, labels := exported(t)
	b, err := os.ReadFile("grafana/exoprobe-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	}
	type panel struct {
		ID         int             `json:"id"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []target        `json:"targets"`
	}
	var dash struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("dashboard needs a title and a uid")
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: %v", v.Name, err)
		}
		m := regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`).FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		for _, n := range checkExpr(t, "variable "+v.Name, m[1], metrics, labels) {
			used[n] = true
		}
		if !labels[m[2]] {
			t.Errorf("variable %s: label %s is not exported", v.Name, m[2])
		}
	}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if !bytes.Contains(p.Datasource, []byte(`"${datasource}"`)) {
			t.Errorf("panel %q: datasource %s is not the dashboard's ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, v := range regexp.MustCompile(`\$([a-z_]+)`).FindAllStringSubmatch(tg.Expr, -1) {
				if !vars[v[1]] && !strings.HasPrefix(v[1], "__") {
					t.Errorf("panel %q: $%s is not a dashboard variable", p.Title, v[1])
				}
			}
			for _, n := range checkExpr(t, fmt.Sprintf("panel %q %s", p.Title, tg.RefID), tg.Expr, metrics, labels) {
				used[n] = true
			}
		}
	}
	// What the dashboard is for: status and cause per check, success over
	// time, duration by stage, lockout guard, token expiry, scheduler lag.
	for _, want := range []string{"exoprobe_check_status", "exoprobe_check_cause", "exoprobe_probe_success",
		"exoprobe_probe_duration_seconds", "exoprobe_lockout_guard_active", "exoprobe_token_expiry_timestamp_seconds",
		"exoprobe_scheduler_lag_seconds", "exoprobe_config_last_reload_successful"} {
		if !used[want] {
			t.Errorf("dashboard never queries %s", want)
		}
	}
	// The over-time view colours a check by whether it meets its expectation,
	// not by raw login success: a posture check (expect: fail) refused as
	// expected is healthy, one that logs in or is unverified is not
	// (exoprobe_check_expected is 0 for both).
	var timeline, unverified bool
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if p.Type == "state-timeline" {
				timeline = true
				if !strings.Contains(tg.Expr, "exoprobe_check_expected") || strings.Contains(tg.Expr, "exoprobe_probe_success") {
					t.Errorf("panel %q colours checks by %q; want exoprobe_check_expected (posture checks refused as expected are healthy)", p.Title, tg.Expr)
				}
			}
			if strings.Contains(tg.Expr, `status="unverified"`) {
				unverified = true
			}
		}
	}
	if !timeline {
		t.Error("dashboard has no per-check state timeline")
	}
	if !unverified {
		t.Error("dashboard never shows unverified posture checks")
	}
	anyExoprobeName(t, "grafana/exoprobe-dashboard.json", metrics)
}

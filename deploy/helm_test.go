package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// The chart carries copies of deploy/prometheus/exoprobe-rules.yml (its
// PrometheusRule) and examples/exoprobe.yml (its default config): Helm reads
// files inside the chart only. The copies must not drift.
func TestHelmFilesCopy(t *testing.T) {
	for src, dst := range map[string]string{
		"prometheus/exoprobe-rules.yml": "helm/exoprobe/files/exoprobe-rules.yml",
		"../examples/exoprobe.yml":      "helm/exoprobe/files/exoprobe.yml",
	} {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s: run go test ./deploy -run TestHelmFilesCopy -update", dst, src)
		}
	}
}

// helmBinary finds helm on PATH or where `go install` puts it. No helm
// release can be downloaded here; it is built from its Go module.
func helmBinary(t *testing.T) string {
	t.Helper()
	waitHelmBuild(t)
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gobin = filepath.Join(strings.TrimSpace(string(out)), "bin")
		}
	}
	if p := filepath.Join(gobin, "helm"); gobin != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	msg := "helm is not installed (go install helm.sh/helm/v4/cmd/helm@v4.3.2; .ci/run builds it)"
	if testenv.Required() {
		t.Fatalf("%s, and EXOPROBE_INTEGRATION=require", msg)
	}
	t.Skip(msg + "; set EXOPROBE_INTEGRATION=require to make this a failure")
	return ""
}

// waitHelmBuild waits for .ci/run's background build of helm, which runs
// beside the test suite because it takes minutes on a cold cache:
// EXOPROBE_HELM_BUILDING names the file the build writes "ok" or "failed"
// to when it ends. Without the variable there is nothing to wait for.
func waitHelmBuild(t *testing.T) {
	t.Helper()
	status := os.Getenv("EXOPROBE_HELM_BUILDING")
	if status == "" {
		return
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if b, err := os.ReadFile(status); err == nil && len(bytes.TrimSpace(b)) > 0 {
			if s := strings.TrimSpace(string(b)); s != "ok" {
				t.Fatalf("the background build of helm ended with %q (see its log beside %s)", s, status)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("helm's background build did not end within 10 minutes (%s)", status)
		}
		time.Sleep(time.Second) // an external process: nothing to subscribe to
	}
}

type helmDoc struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	raw map[string]any
}

// helmTemplate renders the chart with the given --set values.
func helmTemplate(t *testing.T, helm string, sets ...string) ([]helmDoc, error) {
	t.Helper()
	args := []string{"template", "exo", "helm/exoprobe", "--namespace", "monitoring"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &helmError{err: err, stderr: stderr.String()}
	}
	var docs []helmDoc
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m == nil {
			continue
		}
		b, _ := yaml.Marshal(m)
		var d helmDoc
		if err := yaml.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		d.raw = m
		docs = append(docs, d)
	}
	return docs, nil
}

type helmError struct {
	err    error
	stderr string
}

func (e *helmError) Error() string { return e.err.Error() + ": " + e.stderr }

func TestHelmLint(t *testing.T) {
	helm := helmBinary(t)
	cmd := exec.Command(helm, "lint", "--strict", "helm/exoprobe")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
}

func TestHelmTemplate(t *testing.T) {
	helm := helmBinary(t)
	bin := exoprobeBinary(t)
	for _, tc := range []struct {
		name     string
		sets     []string
		replicas int
		kinds    []string
	}{
		{name: "defaults", replicas: 3,
			kinds: []string{"ConfigMap", "PodDisruptionBudget", "PrometheusRule", "Service", "Service", "ServiceMonitor", "StatefulSet"}},
		{name: "single", sets: []string{"replicas=1", "serviceMonitor.enabled=false", "prometheusRule.enabled=false"}, replicas: 1,
			kinds: []string{"ConfigMap", "Service", "Service", "StatefulSet"}},
		{name: "secret", sets: []string{"replicas=2", "credentials.values.scanner-password=s3cret",
			"web.writeToken.existingSecret=exoprobe-web-token", "web.externalNames={exoprobe.example.com}"}, replicas: 2,
			kinds: []string{"ConfigMap", "PodDisruptionBudget", "PrometheusRule", "Secret", "Service", "Service", "ServiceMonitor", "StatefulSet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := helmTemplate(t, helm, tc.sets...)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			var sts, cm map[string]any
			for _, d := range docs {
				kinds = append(kinds, d.Kind)
				switch d.Kind {
				case "StatefulSet":
					sts = d.raw
				case "ConfigMap":
					cm = d.raw
				}
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tc.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tc.kinds)
			}
			if r, _ := dig(sts, "spec", "replicas").(int); r != tc.replicas {
				t.Errorf("replicas %v", dig(sts, "spec", "replicas"))
			}
			if vct := dig(sts, "spec", "volumeClaimTemplates"); vct == nil {
				t.Error("no per-member volume (volumeClaimTemplates)")
			}
			c := dig(sts, "spec", "template", "spec", "containers", 0)
			var args []string
			for _, a := range dig(c, "args").([]any) {
				args = append(args, str(a))
			}
			var peers []string
			for _, a := range args {
				if p, ok := strings.CutPrefix(a, "--cluster.peer="); ok {
					peers = append(peers, p)
				}
			}
			if tc.replicas == 1 {
				if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--cluster.") }) {
					t.Errorf("a single replica gets cluster flags: %v", args)
				}
			} else {
				if len(peers) != tc.replicas {
					t.Errorf("peers %v for %d members", peers, tc.replicas)
				}
				svc := str(dig(sts, "spec", "serviceName"))
				for i, p := range peers {
					want := "exo-exoprobe-" + string(rune('0'+i)) + "." + svc + ".monitoring.svc:9094"
					if p != want {
						t.Errorf("peer %d is %q, want %q (pod DNS name through the headless Service)", i, p, want)
					}
				}
			}
			// The Service's names pass the DNS-rebinding guard; writes need
			// the token when its Secret is given.
			if !slices.Contains(args, "--web.external-name=exo-exoprobe,exo-exoprobe.monitoring,exo-exoprobe.monitoring.svc,exo-exoprobe.monitoring.svc.cluster.local") {
				t.Errorf("the Service's names are not accepted hosts: %v", args)
			}
			token := tc.name == "secret"
			if slices.Contains(args, "--web.external-name=exoprobe.example.com") != token {
				t.Errorf("web.externalNames not passed: %v", args)
			}
			hasToken := slices.Contains(args, "--web.write-token-file=/run/exoprobe/web/write-token")
			var mounted bool
			for _, v := range dig(sts, "spec", "template", "spec", "volumes").([]any) {
				mounted = mounted || str(dig(v, "secret", "secretName")) == "exoprobe-web-token"
			}
			if hasToken != token || mounted != token {
				t.Errorf("write token flag %v, Secret mounted %v; want %v", hasToken, mounted, token)
			}
			// The real binary accepts every flag the chart passes (with the
			// rendered config; --check-config stops before serving).
			dir := t.TempDir()
			cfg := filepath.Join(dir, "exoprobe.yml")
			if err := os.WriteFile(cfg, []byte(str(dig(cm, "data", "exoprobe.yml"))), 0o600); err != nil {
				t.Fatal(err)
			}
			var runArgs []string
			for _, a := range args[1:] {
				if strings.HasPrefix(a, "--config=") {
					a = "--config=" + cfg
				}
				a = strings.NewReplacer("$(POD_IP)", "10.0.0.1", "$(POD_NAME)", "exo-exoprobe-0").Replace(a)
				if strings.HasPrefix(a, "--web.write-token-file=") {
					a = "--web.write-token-file=" + writeTokenFile(t, dir)
				}
				runArgs = append(runArgs, a)
			}
			out, err := exec.Command(bin, append([]string{"run", "--check-config"}, runArgs...)...).CombinedOutput()
			if err != nil {
				t.Errorf("exoprobe run --check-config %v: %v\n%s", runArgs, err, out)
			}
		})
	}
	// An empty credential is refused at render time.
	if _, err := helmTemplate(t, helm, "credentials.values.scanner-password="); err == nil ||
		!strings.Contains(err.Error(), "credentials.values.scanner-password is empty") {
		t.Errorf("empty credential value: %v", err)
	}
}

// writeTokenFile stands in for the mounted token Secret.
func writeTokenFile(t *testing.T, dir string) string {
	p := filepath.Join(dir, "write-token")
	if err := os.WriteFile(p, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

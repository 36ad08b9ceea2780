package k8sdecode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func helmBinary(t *testing.T) string {
	t.Helper()
	// .ci/run builds helm in the background (EXOPROBE_HELM_BUILDING names
	// the file it writes "ok" or "failed" to; see deploy/helm_test.go).
	if status := os.Getenv("EXOPROBE_HELM_BUILDING"); status != "" {
		for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(time.Second) {
			if b, err := os.ReadFile(status); err == nil && len(bytes.TrimSpace(b)) > 0 {
				if s := strings.TrimSpace(string(b)); s != "ok" {
					t.Fatalf("the background build of helm ended with %q", s)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("helm's background build did not end within 10 minutes")
			}
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "helm is not installed (go install helm.sh/helm/v4/cmd/helm@v4.3.2)"
	if os.Getenv("EXOPROBE_INTEGRATION") == "require" {
		t.Fatalf("%s, and EXOPROBE_INTEGRATION=require", msg)
	}
	t.Skip(msg)
	return ""
}

// strict decodes JSON into v, refusing fields the type does not have: a
// misspelt or misplaced key in a template is an error here, not a field
// the API server silently drops.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// The Prometheus Operator's types are not in k8s.io/api and their module is
// large: these mirror the fields the chart sets (monitoring.coreos.com/v1).
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Record      string            `json:"record"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

type rendered struct {
	sts     *appsv1.StatefulSet
	svcs    []*corev1.Service
	pdb     *policyv1.PodDisruptionBudget
	cm      *corev1.ConfigMap
	secrets []*corev1.Secret
	sm      *serviceMonitor
	rule    *prometheusRule
}

func render(t *testing.T, sets ...string) rendered {
	t.Helper()
	args := []string{"template", "exo", "../exoprobe", "--namespace", "monitoring"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	var r rendered
	for _, doc := range strings.Split(string(out), "\n---") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("yaml: %v\n%s", err, doc)
		}
		if string(j) == "null" {
			continue
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(j, &tm); err != nil {
			t.Fatal(err)
		}
		var v any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 StatefulSet":
			r.sts = &appsv1.StatefulSet{}
			v = r.sts
		case "v1 Service":
			s := &corev1.Service{}
			r.svcs = append(r.svcs, s)
			v = s
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			v = r.pdb
		case "v1 ConfigMap":
			r.cm = &corev1.ConfigMap{}
			v = r.cm
		case "v1 Secret":
			s := &corev1.Secret{}
			r.secrets = append(r.secrets, s)
			v = s
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.sm = &serviceMonitor{}
			v = r.sm
		case "monitoring.coreos.com/v1 PrometheusRule":
			r.rule = &prometheusRule{}
			v = r.rule
		default:
			t.Fatalf("unexpected object %s %s", tm.APIVersion, tm.Kind)
		}
		if err := strict(j, v); err != nil {
			t.Fatalf("%s: %v", tm.Kind, err)
		}
	}
	return r
}

func TestChartDecodesStrictly(t *testing.T) {
	r := render(t, "credentials.values.scanner-password=s3cret")
	if r.sts == nil || r.pdb == nil || r.cm == nil || r.sm == nil || r.rule == nil || len(r.svcs) != 2 || len(r.secrets) != 1 {
		t.Fatalf("missing objects: %+v", r)
	}
	pod := r.sts.Spec.Template
	podLabels := labels.Set(pod.Labels)
	sel, err := metav1.LabelSelectorAsSelector(r.sts.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("StatefulSet selector %v does not match its pods %v", r.sts.Spec.Selector, pod.Labels)
	}
	if r.sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: members should start together", r.sts.Spec.PodManagementPolicy)
	}
	if len(r.sts.Spec.VolumeClaimTemplates) != 1 || r.sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Errorf("volumeClaimTemplates %+v", r.sts.Spec.VolumeClaimTemplates)
	}
	// The headless Service named by serviceName, published before ready.
	var headless *corev1.Service
	for _, s := range r.svcs {
		if s.Name == r.sts.Spec.ServiceName {
			headless = s
		}
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			t.Errorf("Service %s selects no member", s.Name)
		}
	}
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Fatalf("no headless Service %q publishing not-ready members: %+v", r.sts.Spec.ServiceName, headless)
	}
	// Every Service port targets a named container port with its protocol.
	c := pod.Spec.Containers[0]
	ports := map[string]corev1.Protocol{}
	for _, p := range c.Ports {
		ports[p.Name] = p.Protocol
	}
	for _, s := range r.svcs {
		for _, p := range s.Spec.Ports {
			if proto, ok := ports[p.TargetPort.StrVal]; !ok || proto != p.Protocol {
				t.Errorf("Service %s port %s targets %q (%s), not a container port", s.Name, p.Name, p.TargetPort.StrVal, p.Protocol)
			}
		}
	}
	// Peers: one per member, by its pod DNS name.
	var peers []string
	for _, a := range c.Args {
		if p, ok := strings.CutPrefix(a, "--cluster.peer="); ok {
			peers = append(peers, p)
		}
	}
	var want []string
	for i := range int(*r.sts.Spec.Replicas) {
		want = append(want, fmt.Sprintf("%s-%d.%s.monitoring.svc:9094", r.sts.Name, i, headless.Name))
	}
	if !slices.Equal(peers, want) {
		t.Errorf("peers %v, want %v", peers, want)
	}
	// Volumes: config, credentials (the Secret), data from the claim template.
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = true
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	if !mounts["data"] || !mounts["config"] || !mounts["credentials"] {
		t.Errorf("mounts %v", mounts)
	}
	if v := vols["credentials"]; v.Secret == nil || v.Secret.SecretName != r.secrets[0].Name {
		t.Errorf("credentials volume %+v, Secret %s", v, r.secrets[0].Name)
	}
	if v := vols["config"]; v.ConfigMap == nil || v.ConfigMap.Name != r.cm.Name || r.cm.Data["exoprobe.yml"] == "" {
		t.Errorf("config volume %+v, ConfigMap %s", v, r.cm.Name)
	}
	// PDB and ServiceMonitor select the members; the monitor scrapes the
	// headless Service (every member) only.
	psel, _ := metav1.LabelSelectorAsSelector(r.pdb.Spec.Selector)
	if !psel.Matches(podLabels) || r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB %+v", r.pdb.Spec)
	}
	msel, _ := metav1.LabelSelectorAsSelector(&r.sm.Spec.Selector)
	for _, s := range r.svcs {
		if got := msel.Matches(labels.Set(s.Labels)); got != (s == headless) {
			t.Errorf("ServiceMonitor selects Service %s: %v", s.Name, got)
		}
	}
	if len(r.sm.Spec.Endpoints) != 1 || r.sm.Spec.Endpoints[0].Port != "http" {
		t.Errorf("ServiceMonitor endpoints %+v", r.sm.Spec.Endpoints)
	}
	n := 0
	for _, g := range r.rule.Spec.Groups {
		n += len(g.Rules)
	}
	if n == 0 {
		t.Error("PrometheusRule has no rules")
	}
}

func TestSingleReplicaHasNoClusterFlags(t *testing.T) {
	r := render(t, "replicas=1", "serviceMonitor.enabled=false", "prometheusRule.enabled=false")
	if r.pdb != nil || r.sm != nil || r.rule != nil || len(r.secrets) != 0 {
		t.Errorf("objects a single replica without monitoring should not have: %+v", r)
	}
	for _, a := range r.sts.Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--cluster.") {
			t.Errorf("single replica gets %s", a)
		}
	}
}

// The gossip key's Secret is mounted where --cluster.secret-key-file reads.
func TestClusterKeyMounted(t *testing.T) {
	r := render(t, "cluster.secretKey.existingSecret=gossip", "cluster.secretKey.key=k")
	c := r.sts.Spec.Template.Spec.Containers[0]
	var file string
	for _, a := range c.Args {
		if f, ok := strings.CutPrefix(a, "--cluster.secret-key-file="); ok {
			file = f
		}
	}
	var mount string
	for _, m := range c.VolumeMounts {
		if m.Name == "cluster-key" {
			mount = m.MountPath
		}
	}
	var secret string
	for _, v := range r.sts.Spec.Template.Spec.Volumes {
		if v.Name == "cluster-key" && v.Secret != nil {
			secret = v.Secret.SecretName
		}
	}
	if file == "" || mount == "" || filepath.Dir(file) != mount || filepath.Base(file) != "k" || secret != "gossip" {
		t.Errorf("key file %q, mount %q, secret %q", file, mount, secret)
	}
}

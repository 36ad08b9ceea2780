package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exoprobe/exoprobe/sim"
)

// exoprobeBin is the binary built once by TestMain: the e2e tests run the
// program a user runs, flags, exit codes and output streams included.
var exoprobeBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "exoprobe-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	exoprobeBin = filepath.Join(dir, "exoprobe")
	build := exec.Command("go", "build", "-o", exoprobeBin, "github.com/exoprobe/exoprobe/cmd/exoprobe")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/exoprobe:", err)
		return 1
	}
	return m.Run()
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// run runs the binary with args (and stdin, when not empty) and returns
// what it printed and its exit status. It fails the test only when the
// binary could not run at all or outlived its deadline.
func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exoprobeBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	// No proxy from the environment may sit between the probes and 127.0.0.1.
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*")
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("exoprobe %q: %v\n%s", args, err, r)
	}
	return r
}

// startSim runs the emulator in the test process; endpoints.json lands in a
// temporary directory whose path it returns.
func startSim(t *testing.T) (*sim.Sim, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := sim.Start(context.Background(), sim.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, filepath.Join(dir, sim.EndpointsFile)
}

// simExec changes the emulator's state the way an admin would, through the
// binary's `sim exec`.
func simExec(t *testing.T, endpoints string, lines ...string) {
	t.Helper()
	r := run(t, "", append([]string{"sim", "exec", "--endpoints", endpoints}, lines...)...)
	if r.code != 0 {
		t.Fatalf("sim exec %q: %s", lines, r)
	}
}

// secretFile writes a secret to a 0600 file in the test's directory.
func secretFile(t *testing.T, name, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkDoc is the JSON document of `check --output json` (the fields the
// stable schema promises).
type checkDoc struct {
	Target   *string      `json:"target"`
	Lang     string       `json:"lang"`
	Attempts []attemptDoc `json:"attempts"`
	Findings []findingDoc `json:"findings"`
}

type attemptDoc struct {
	Protocol   *string  `json:"protocol"`
	Mechanism  *string  `json:"mechanism"`
	OK         *bool    `json:"ok"`
	Stage      *string  `json:"stage"`
	Reply      *string  `json:"reply"`
	DurationMS *int64   `json:"duration_ms"`
	Cause      *string  `json:"cause"`
	Confidence *string  `json:"confidence"`
	Transcript []string `json:"transcript"`
}

type findingDoc struct {
	Protocol   string   `json:"protocol"`
	Mechanism  string   `json:"mechanism"`
	Cause      *string  `json:"cause"`
	Confidence *string  `json:"confidence"`
	Evidence   []string `json:"evidence"`
	Remedy     *struct {
		Summary *string  `json:"summary"`
		Inspect []string `json:"inspect"`
		Fix     []string `json:"fix"`
		Caveats []string `json:"caveats"`
		Links   []string `json:"links"`
	} `json:"remedy"`
}

// parseCheck decodes check's JSON and fails the test when a field of the
// stable schema is missing.
func parseCheck(t *testing.T, r result) checkDoc {
	t.Helper()
	var d checkDoc
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("check --output json: %v\n%s", err, r)
	}
	if d.Target == nil || d.Attempts == nil || d.Findings == nil {
		t.Fatalf("check JSON lacks target/attempts/findings:\n%s", r)
	}
	for i, a := range d.Attempts {
		if a.Protocol == nil || a.Mechanism == nil || a.OK == nil || a.Stage == nil || a.Reply == nil ||
			a.DurationMS == nil || a.Cause == nil || a.Confidence == nil {
			t.Fatalf("attempt %d lacks a schema field:\n%s", i, r)
		}
		if *a.DurationMS < 0 {
			t.Errorf("attempt %d: duration_ms %d", i, *a.DurationMS)
		}
	}
	for i, f := range d.Findings {
		if f.Cause == nil || f.Confidence == nil || f.Evidence == nil || f.Remedy == nil || f.Remedy.Summary == nil ||
			f.Remedy.Inspect == nil || f.Remedy.Fix == nil || f.Remedy.Caveats == nil || f.Remedy.Links == nil {
			t.Fatalf("finding %d lacks a schema field:\n%s", i, r)
		}
	}
	return d
}

// attempt returns the attempt of protocol/mechanism, failing when absent.
func (d checkDoc) attempt(t *testing.T, proto, mech string) attemptDoc {
	t.Helper()
	for _, a := range d.Attempts {
		if *a.Protocol == proto && *a.Mechanism == mech {
			return a
		}
	}
	t.Fatalf("no %s/%s attempt in the report", proto, mech)
	return attemptDoc{}
}

// finding returns the finding of protocol/mechanism, or nil.
func (d checkDoc) finding(proto, mech string) *findingDoc {
	for i := range d.Findings {
		if d.Findings[i].Protocol == proto && d.Findings[i].Mechanism == mech {
			return &d.Findings[i]
		}
	}
	return nil
}

func (a attemptDoc) String() string {
	return fmt.Sprintf("%s/%s ok=%v stage=%s cause=%s (%s) reply=%q", *a.Protocol, *a.Mechanism, *a.OK, *a.Stage, *a.Cause, *a.Confidence, *a.Reply)
}

package deploy

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/exoprobe/exoprobe/internal/testenv"
)

// The tenant-reads rules (issue 10 "ahead of breakage") parse and their
// unit tests pass: credential expiry, Basic SMTP before the cut-off, a
// setting changed between reads, reads degraded.
func TestTenantRulesPromtool(t *testing.T) {
	promtool := testenv.Require(t, "promtool", "/usr/bin/promtool")
	for _, args := range [][]string{
		{"check", "rules", "prometheus/exoprobe-tenant-rules.yml"},
		{"test", "rules", "prometheus/exoprobe-tenant-rules.test.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

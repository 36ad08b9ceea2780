package main

import (
	"bytes"
	"strings"
	"testing"
)

// -h asks for help: every subcommand prints its flags and exits 0 (a
// script that checks `exoprobe X -h` must not see a usage error).
func TestEverySubcommandHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"check", "-h"}, {"diagnose", "-h"}, {"explain", "-h"}, {"run", "-h"}, {"demo", "-h"},
		{"sim", "-h"}, {"sim", "exec", "-h"}, {"alerts", "test", "-h"},
	} {
		if _, ok := subcommands[args[0]]; !ok {
			t.Fatalf("no subcommand %q", args[0])
		}
		var out, errb bytes.Buffer
		code := dispatch(args, &out, &errb)
		if code != exitOK || !strings.Contains(out.String()+errb.String(), "-") {
			t.Errorf("exoprobe %s: exit %d (want 0)\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
	}
}

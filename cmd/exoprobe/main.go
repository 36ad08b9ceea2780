// Command exoprobe probes mail logins (IMAP, POP, SMTP AUTH; Basic and
// XOAUTH2) against Exchange Online or any other server, explains why they
// fail, and ships an Exchange Online emulator for demos and tests.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/exoprobe/exoprobe/report"
)

// A subcommand registers itself from its own file's init, so that adding a
// subcommand never means editing this file.
type subcommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var subcommands = map[string]subcommand{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	if _, dup := subcommands[name]; dup {
		panic("exoprobe: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1 // a check failed or left its expectation
	exitUsage = 2 // usage or config error
)

// parseExit is the exit code of a subcommand whose flags did not parse:
// asking for -h is not an error.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "--version", "-version", "-v":
		// As Prometheus' tools answer it.
		return subcommands["version"].run(nil, stdout, stderr)
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "exoprobe: unknown command %q", args[0])
		names := make([]string, 0, len(subcommands))
		for n := range subcommands {
			names = append(names, n)
		}
		if s := nearest(strings.TrimLeft(args[0], "-"), names); s != "" {
			fmt.Fprintf(stderr, "; did you mean %q?", s)
		}
		fmt.Fprint(stderr, "\n\n")
		usage(stderr)
		return exitUsage
	}
	// Whatever a server said reaches the terminal inert: control
	// characters made visible, never interpreted (package report).
	return sc.run(args[1:], report.NewInertWriter(stdout), report.NewInertWriter(stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: exoprobe <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
}

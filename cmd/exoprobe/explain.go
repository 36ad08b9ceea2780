package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/report"
)

func init() {
	register("explain", "explain a cause id and print its remedy", runExplain)
}

const explainUsage = `usage: exoprobe explain [--lang en|ja] [--protocol imap|pop|smtp] CAUSE
       exoprobe explain [--lang en|ja] --list

Prints what a cause id means and the PowerShell to inspect and fix it, with
<placeholders> left for you to fill. --list prints every cause id.
`

func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage) }
	list := fs.Bool("list", false, "list every cause id")
	lang := fs.String("lang", "en", "en or ja")
	proto := fs.String("protocol", "", "tailor the remedy to imap, pop or smtp")
	pos, err := interleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "exoprobe explain: "+format+"\n", a...)
		fmt.Fprint(stderr, explainUsage)
		return exitUsage
	}
	if *lang != "en" && *lang != "ja" {
		return bad("unknown --lang %q", *lang)
	}
	switch strings.ToLower(*proto) {
	case "", "imap", "pop", "smtp":
	default:
		return bad("unknown --protocol %q", *proto)
	}
	if *list {
		if len(pos) > 0 {
			return bad("--list takes no cause")
		}
		if err := report.WriteCauseList(stdout, *lang); err != nil {
			fmt.Fprintf(stderr, "exoprobe explain: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	if len(pos) != 1 {
		return bad("give one cause id (see exoprobe explain --list)")
	}
	c := diagnose.Cause(strings.TrimSpace(pos[0]))
	if _, _, ok := diagnose.Explain(c, *lang); !ok {
		fmt.Fprintf(stderr, "exoprobe explain: unknown cause %q; known causes:\n", pos[0])
		_ = report.WriteCauseList(stderr, *lang)
		return exitUsage
	}
	if err := report.WriteExplain(stdout, c, *lang, diagnose.Vars{Protocol: strings.ToLower(*proto)}); err != nil {
		fmt.Fprintf(stderr, "exoprobe explain: %v\n", err)
		return exitFail
	}
	return exitOK
}

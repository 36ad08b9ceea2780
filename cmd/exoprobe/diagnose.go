package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/redact"
	"github.com/exoprobe/exoprobe/report"
)

// diagnoseStdin is read by `diagnose -`; tests replace it.
var diagnoseStdin io.Reader = os.Stdin

func init() {
	register("diagnose", "classify a server reply pasted from an application's log", runDiagnose)
}

const diagnoseUsage = `usage: exoprobe diagnose --protocol smtp|imap|pop [--mechanism basic|xoauth2]
                         [--output text|json] [--lang en|ja] [TEXT|-]

Classifies one server reply (or a token-endpoint AADSTS error) as an
application logged it, client wrappers included (nodemailer "Invalid login: ",
.NET System.Net.Mail, Python "(535, b'...')", MailKit "535: ", imaplib
"b'LOGIN failed.'"), and prints the cause with its remedy. TEXT may be given
as several arguments; without TEXT, or with "-", it is read from stdin.

Exit status: 0 when a diagnosis was printed (whatever the cause, including
"unknown"), 2 on a usage error.
`

// interleaved parses flags that may come before or after positional
// arguments ("diagnose 'text' --protocol smtp").
func interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func runDiagnose(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, diagnoseUsage) }
	proto := fs.String("protocol", "", "smtp, imap or pop (required)")
	mech := fs.String("mechanism", "", "basic or xoauth2 (optional; narrows generic replies)")
	output := fs.String("output", "text", "text or json")
	lang := fs.String("lang", "en", "en or ja")
	pos, err := interleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "exoprobe diagnose: "+format+"\n", a...)
		fmt.Fprint(stderr, diagnoseUsage)
		return exitUsage
	}
	p := probe.Protocol(strings.ToLower(*proto))
	switch p {
	case probe.SMTP, probe.IMAP, probe.POP:
	case "":
		return bad("--protocol is required")
	default:
		return bad("unknown --protocol %q", *proto)
	}
	m := probe.Mechanism(strings.ToLower(*mech))
	switch m {
	case "", probe.Basic, probe.XOAUTH2:
	default:
		return bad("unknown --mechanism %q", *mech)
	}
	if *output != "text" && *output != "json" {
		return bad("unknown --output %q", *output)
	}
	if *lang != "en" && *lang != "ja" {
		return bad("unknown --lang %q", *lang)
	}
	var text string
	if len(pos) == 0 || (len(pos) == 1 && pos[0] == "-") {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(diagnoseStdin), 1<<20))
		if err != nil {
			fmt.Fprintf(stderr, "exoprobe diagnose: reading stdin: %v\n", err)
			return exitUsage
		}
		text = string(b)
	} else {
		text = strings.Join(pos, " ")
	}
	if strings.TrimSpace(text) == "" {
		return bad("no reply text given")
	}
	// A pasted log may carry the client's side too (AUTH blobs, PASS,
	// bearer tokens): scrub it before any of it is echoed.
	text = redact.Text(text)

	f := diagnose.ClassifyReply(p, m, text)
	a := probe.Attempt{Protocol: p, Mechanism: m, Stage: probe.StageAuth, Reply: diagnose.Unwrap(text)}
	if f.Cause == diagnose.CauseOK {
		a.OK, a.Stage = true, probe.StageDone
	}
	res := report.Result{Attempts: []probe.Attempt{a}, Findings: []diagnose.Finding{f}, Lang: *lang}
	if *output == "json" {
		err = report.WriteJSON(stdout, res)
	} else {
		err = report.WriteText(stdout, res, *lang)
	}
	if err != nil {
		fmt.Fprintf(stderr, "exoprobe diagnose: %v\n", err)
		return exitFail
	}
	return exitOK
}

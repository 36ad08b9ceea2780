package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// parseFlags parses a subcommand's flags. -h prints the full usage as
// before; a mistyped flag prints one line naming the nearest flag and a
// short usage instead of the whole list of flags (which scrolled the
// mistake off the screen).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	full := fs.Usage
	if full == nil {
		full = func() {
			fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
	}
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	fs.Usage = full
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		full()
		return err
	}
	name := "exoprobe " + strings.TrimPrefix(fs.Name(), "exoprobe ")
	if bad, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
		fmt.Fprintf(stderr, "%s: unknown flag %s", name, bad)
		if s := nearestFlag(fs, strings.TrimLeft(bad, "-")); s != "" {
			fmt.Fprintf(stderr, "; did you mean --%s?", s)
		}
		fmt.Fprintln(stderr)
	} else {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	fmt.Fprintf(stderr, "usage: %s [flags]; run '%s -h' for every flag\n", name, name)
	return err
}

// nearestFlag is the defined flag closest to s by edit distance, or a flag
// s is a prefix of; "" when none is close.
func nearestFlag(fs *flag.FlagSet, s string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return nearest(s, names)
}

func nearest(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		d := editDistance(strings.ToLower(s), strings.ToLower(n))
		if strings.HasPrefix(n, s) && len(s) >= 3 {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && n < best) {
			best, bestD = n, d
		}
	}
	// Close enough to be the same word mistyped: a third of it at most.
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

// editDistance is Levenshtein distance with adjacent transpositions
// counted as one edit (the commonest typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// newLogger makes the daemon's logger in the format --log.format names,
// as Prometheus' promslog does: logfmt (slog's text handler) or json.
func newLogger(w io.Writer, format string, lvl slog.Level) (*slog.Logger, error) {
	o := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "logfmt", "":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("unknown format %q (logfmt or json)", format)
}

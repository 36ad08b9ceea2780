package diagnose

import (
	"slices"
	"strings"
)

// MaxMailboxLines bounds how many mailboxes an incident's remedy spells out
// line by line; beyond it the placeholder stays and a step says to repeat
// the line for each mailbox the incident lists.
const MaxMailboxLines = 50

// RemedyForMailboxes is RemedyFor for an incident that affects several
// mailboxes (a tenant-wide switch failing three printers): every inspect
// and fix line that names <mailbox> or <user> is repeated once per mailbox,
// filled, so each fix line runs as printed and none is silently aimed at
// the first mailbox only. One mailbox (or none) is plain RemedyFor.
func RemedyForMailboxes(c Cause, lang string, v Vars, mailboxes []string) Remedy {
	mbs := slices.Compact(slices.Sorted(slices.Values(slices.DeleteFunc(slices.Clone(mailboxes), func(s string) bool { return s == "" }))))
	if len(mbs) <= 1 {
		if len(mbs) == 1 {
			v.Mailbox, v.User = mbs[0], mbs[0]
		}
		return RemedyFor(c, lang, v)
	}
	// Tailoring depends on there being a mailbox (the SMTP AUTH fix is the
	// mailbox's own exception, never the organization's switch), so each
	// mailbox's remedy is rendered and the lines merged position by
	// position: shared lines once, mailbox lines once per mailbox. Prose
	// (steps) keeps the placeholder.
	render := func(mb string) Remedy {
		w := v
		w.Mailbox, w.User = mb, mb
		return RemedyFor(c, lang, w)
	}
	unfill := func(lines []string, mb string) []string {
		out := slices.Clone(lines)
		for i := range out {
			out[i] = strings.ReplaceAll(out[i], psArg(mb), "<mailbox>")
		}
		return out
	}
	r := render(mbs[0])
	r.Steps = unfill(r.Steps, mbs[0])
	if len(mbs) > MaxMailboxLines {
		r.Inspect, r.Fix = unfill(r.Inspect, mbs[0]), unfill(r.Fix, mbs[0])
		r.Steps = append(r.Steps, stepEachMailbox[langIndex(lang)])
		return r
	}
	all := make([]Remedy, len(mbs))
	for i, mb := range mbs {
		all[i] = render(mb)
	}
	merge := func(get func(*Remedy) []string) []string {
		var out []string
		for j := range get(&all[0]) {
			seen := map[string]bool{}
			for i := range all {
				if ls := get(&all[i]); j < len(ls) && !seen[ls[j]] {
					seen[ls[j]] = true
					out = append(out, ls[j])
				}
			}
		}
		return out
	}
	r.Inspect = merge(func(x *Remedy) []string { return x.Inspect })
	r.Fix = merge(func(x *Remedy) []string { return x.Fix })
	return r
}

var stepEachMailbox = [2]string{
	"Run the lines with <mailbox> or <user> once for each mailbox this incident lists.",
	"<mailbox> または <user> を含む行は、このインシデントに含まれる各メールボックスについて 1 回ずつ実行してください。",
}

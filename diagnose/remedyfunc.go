package diagnose

// RemedyFunc renders cause c's remedy for checks of target (the first
// check's target when several) on the given mailboxes: the edges (status
// page, API, alerts) call one so that the daemon can fill names it knows
// from elsewhere — the tenant's authentication policy, the app's object id
// — without any remedy being stored per check. Nil means
// RemedyForMailboxes.
type RemedyFunc func(c Cause, lang string, v Vars, target string, mailboxes []string) Remedy

// Render calls f, or RemedyForMailboxes when f is nil.
func (f RemedyFunc) Render(c Cause, lang string, v Vars, target string, mailboxes []string) Remedy {
	if f == nil {
		return RemedyForMailboxes(c, lang, v, mailboxes)
	}
	return f(c, lang, v, target, mailboxes)
}

package diagnose

import "github.com/exoprobe/exoprobe/probe"

// ClassifyAt diagnoses attempts[i] alone, the other attempts being its
// comparison set, as Classify(attempts)[i] would, but without refining the
// other attempts or rendering a remedy: the daemon classifies each attempt
// as it completes and renders remedies where they are shown (RemedyFor),
// so one completion costs one finding, not one per sibling. The Finding's
// Remedy is empty.
func ClassifyAt(attempts []probe.Attempt, i int) Finding {
	direct := make([]verdict, len(attempts))
	for j := range attempts {
		direct[j] = classifyOne(&attempts[j])
	}
	v := direct[i]
	if v.gen != decided {
		v = refine(attempts, direct, i)
	}
	a := &attempts[i]
	f := Finding{Cause: v.cause, Confidence: v.conf, Protocol: string(a.Protocol), Mechanism: string(a.Mechanism),
		Evidence: v.ev.en, EvidenceJA: v.ev.ja, Weak: v.weak && v.conf == Inferred}
	if f.Evidence == nil {
		f.Evidence = []string{}
	}
	return f
}

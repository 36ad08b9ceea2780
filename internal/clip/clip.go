// Package clip shortens server replies for display and storage without
// losing what identifies them: an AADSTS code, an RFC 3463 enhanced status
// code or a leading reply code is what a reader (and a search) needs, and
// it often sits past the cut ("Token request failed: ... AADSTS7000215").
package clip

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

var (
	aadsts   = regexp.MustCompile(`AADSTS\d{4,8}`)
	enhanced = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)
	leading  = regexp.MustCompile(`^\s*[2-5]\d\d\b`)
)

// Codes lists the error codes in s, in order, without repeats.
func Codes(s string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(c string) {
		if c = strings.TrimSpace(c); c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	add(leading.FindString(s))
	for _, re := range []*regexp.Regexp{enhanced, aadsts} {
		for _, c := range re.FindAllString(s, -1) {
			add(c)
		}
	}
	return out
}

// Missing lists the codes of orig that short no longer contains.
func Missing(orig, short string) []string {
	var out []string
	for _, c := range Codes(orig) {
		if !strings.Contains(short, c) {
			out = append(out, c)
		}
	}
	return out
}

// Keep shortens s to at most n runes (n >= 20), cutting the end, and
// appends in brackets every code the cut removed.
func Keep(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	cut := n - 1
	var suffix string
	for range 3 { // the suffix shortens the head, which may drop more codes
		if miss := Missing(s, string(rs[:cut])); len(miss) > 0 {
			suffix = " [" + strings.Join(miss, " ") + "]"
		}
		cut = max(n-1-utf8.RuneCountInString(suffix), 0)
	}
	if miss := Missing(s, string(rs[:cut])); len(miss) > 0 {
		suffix = " [" + strings.Join(miss, " ") + "]"
	}
	return strings.TrimRight(string(rs[:cut]), " ") + "…" + suffix
}

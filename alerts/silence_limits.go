package alerts

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on silences made through the API. A silence mutes alerts, so a
// flood of them (or one for ten years) is how an intruder or a runaway
// script would blind the monitoring; every store write is also a disk
// sync. Silences from the configuration file are reviewed with it and are
// not capped.
const (
	MaxAPISilences      = 100
	MaxSilenceDuration  = 30 * 24 * time.Hour
	MaxSilenceLead      = 30 * 24 * time.Hour // how far ahead starts_at may be
	MaxSilenceMatchers  = 16
	MaxSilenceCreatedBy = 128
	MaxSilenceComment   = 1024
)

// ErrTooManySilences is returned when MaxAPISilences are in force.
var ErrTooManySilences = errors.New("too many silences")

// validateAPI applies the API limits at now.
func (s *Silence) validateAPI(now time.Time) error {
	if err := s.validate(); err != nil {
		return err
	}
	switch {
	case len(s.Matchers) > MaxSilenceMatchers:
		return fmt.Errorf("silence: at most %d matchers", MaxSilenceMatchers)
	case !s.EndsAt.After(now):
		return fmt.Errorf("silence: ends_at %s is in the past", s.EndsAt.Format(time.RFC3339))
	case s.StartsAt.Sub(now) > MaxSilenceLead:
		return fmt.Errorf("silence: starts_at may be at most %s ahead", MaxSilenceLead)
	case s.EndsAt.Sub(s.StartsAt) > MaxSilenceDuration:
		return fmt.Errorf("silence: at most %s long (%s asked); renew it if the maintenance lasts longer",
			MaxSilenceDuration, s.EndsAt.Sub(s.StartsAt).Round(time.Minute))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"created_by", s.CreatedBy, MaxSilenceCreatedBy}, {"comment", s.Comment, MaxSilenceComment}} {
		if len(f.v) > f.max {
			return fmt.Errorf("silence: %s longer than %d bytes", f.name, f.max)
		}
		if !utf8.ValidString(f.v) || strings.IndexFunc(f.v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0 {
			return fmt.Errorf("silence: %s has control characters", f.name)
		}
	}
	return nil
}

// activeAPI counts API silences not yet expired at now; the caller holds
// s.mu.
func (s *silences) activeAPI(now time.Time) int {
	n := 0
	for i := range s.api {
		if s.api[i].EndsAt.After(now) {
			n++
		}
	}
	return n
}

func matcherStrings(ms []Matcher) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}

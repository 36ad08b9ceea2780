package alerts

import (
	"fmt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/scheduler"
)

// problemUnverified is the problem of a group of posture checks that are
// refused, but only for reasons that prove nothing about the posture they
// watch (scheduler.StatusUnverified): the control is blind.
const problemUnverified = string(scheduler.EventPostureUnverified)

var unverifiedWords = map[string]struct{ title, body string }{
	"en": {
		title: "Posture unverified: %s must-fail check proves nothing",
		body:  "%d check(s) that must stay refused were refused for a reason that does not show Basic authentication is off (a local fault, the network, a timeout, a wrong password): nobody can tell whether the control holds. Fix the cause below so the check verifies again.",
	},
	"ja": {
		title: "ポスチャ未検証: 拒否されるべき %s チェックが何も証明していません",
		body:  "拒否されるべき %d 件のチェックが、基本認証の無効を示さない理由 (ローカルの不具合、ネットワーク、タイムアウト、パスワードの誤りなど) で失敗しています。制御が有効かどうか判断できません。下の原因を解消して、チェックが再び検証できるようにしてください。",
	},
}

// unverifiedContent fills the title, summary and remedy of a posture
// unverified notification: the remedy is that of the first member's own
// cause (what hides the posture), never a Basic policy fix.
func unverifiedContent(c *Content, n *Notification, lang string, first *Member) {
	w := unverifiedWords[langOf(lang)]
	if n.Status == StatusFiring && n.Kind != KindTest {
		c.Summary = fmt.Sprintf(w.body, len(n.Firing))
	}
	if first == nil || n.Status != StatusFiring {
		return
	}
	// A cause that could prove the posture is here only because it was
	// weakly inferred: its own remedy would turn Basic on, so
	// PostureUnverifiedRemedy offers what would make the refusal proof.
	vars := diagnose.Vars{Mailbox: first.User, User: first.User, Protocol: first.Protocol, Policy: first.AuthPolicy}
	r := diagnose.PostureUnverifiedRemedy(first.Cause, lang, vars)
	if !diagnose.ProvesPosture(first.Cause) {
		r = n.remedy.Render(first.Cause, lang, vars, first.Target, []string{first.User})
	}
	c.Facts = append(c.Facts, Fact{dict[langOf(lang)].cause, string(first.Cause)})
	c.Remedy = diagnose.PostureUnverifiedText(first.Cause, lang) + " " + r.Summary
	c.Inspect, c.Fix, c.Steps, c.Caveats, c.Links = r.Inspect, r.Fix, r.Steps, r.Caveats, r.Links
}

package web

import (
	"net/url"
	"strings"

	"github.com/exoprobe/exoprobe/scheduler"
)

// In a cluster every member lists the whole fleet: a check another member
// runs comes with status elsewhere, its owner's name and the URL of the
// owner's status page (scheduler.CheckState.Remote), and no
// state, since this member's copy would be stale. The page shows such a
// check as a cell that opens it on its owner, and never offers to probe it
// from here.

func init() {
	messages[langEN]["status.elsewhere"] = "run by another member"
	messages[langJA]["status.elsewhere"] = "別のメンバーが実行"
	messages[langEN]["handover.adopted"] = "taken over from another member"
	messages[langJA]["handover.adopted"] = "別のメンバーから引き継ぎ"
	messages[langEN]["handover.released"] = "moved to another member"
	messages[langJA]["handover.released"] = "別のメンバーへ移動"
	messages[langEN]["owner_announced"] = "as its owner last announced"
	messages[langJA]["owner_announced"] = "所有メンバーが最後に通知した状態"
}

// remoteCellStatus is the cell class of a check run elsewhere: marked when
// the cluster announced it needs attention.
func remoteCellStatus(st *scheduler.CheckState) string {
	switch s := st.Remote.AnnouncedStatus; s {
	case scheduler.StatusFailing, scheduler.StatusUnexpectedlyOK, scheduler.StatusUnverified:
		return string(scheduler.StatusElsewhere) + "-" + string(s)
	}
	return string(scheduler.StatusElsewhere)
}

// remoteTitle describes a check run elsewhere: its owner and, when the
// cluster announced one, its state.
func remoteTitle(st *scheduler.CheckState, lang string) string {
	t := string(st.ID) + ": " + ownerLabel(st, lang)
	if r := st.Remote; r.AnnouncedStatus != "" {
		t += " — " + msg(lang, "status."+string(r.AnnouncedStatus))
		if r.AnnouncedCause != "" && r.AnnouncedStatus != scheduler.StatusOK {
			t += " " + string(r.AnnouncedCause)
		}
		t += " (" + msg(lang, "owner_announced") + ")"
	}
	return t
}

// eventLabel names an event's kind; a change of owner in a cluster says
// so, not that the check changed state again.
func eventLabel(ev *scheduler.Event, lang string) string {
	l := msg(lang, "kind."+string(ev.Kind))
	if ev.Handover != "" {
		l += " — " + msg(lang, "handover."+string(ev.Handover))
	}
	return l
}

// remote reports whether another cluster member runs the check.
func remote(st *scheduler.CheckState) bool {
	return st.Status == scheduler.StatusElsewhere && st.Remote != nil
}

// ownerCheckURL links a check on its owner's status page; "" when the owner
// advertised no usable URL (only http and https are linked: the URL came
// over gossip).
func ownerCheckURL(st *scheduler.CheckState, lang string) string {
	u, err := url.Parse(st.Remote.OwnerURL)
	if st.Remote.OwnerURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/"
	u.RawQuery = url.Values{"lang": {lang}, "check": {string(st.ID)}}.Encode()
	u.Fragment = ""
	return u.String()
}

// checkURL opens a check: here, or on the member that runs it.
func checkURL(st *scheduler.CheckState, lang string) string {
	if remote(st) {
		if u := ownerCheckURL(st, lang); u != "" {
			return u
		}
	}
	return "?" + url.Values{"lang": {lang}, "check": {string(st.ID)}}.Encode()
}

// ownerLabel is the state label of a check run elsewhere, naming its owner.
func ownerLabel(st *scheduler.CheckState, lang string) string {
	l := msg(lang, "status.elsewhere")
	if st.Remote != nil && st.Remote.Owner != "" {
		l += ": " + st.Remote.Owner
	}
	return l
}

package alerts

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

type slackMsg struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct{ Type, Text string }
	} `json:"blocks"`
}

func slackOf(t *testing.T, n *Notification) slackMsg {
	t.Helper()
	b, err := json.Marshal(SlackPayload(n, "en"))
	if err != nil {
		t.Fatal(err)
	}
	var m slackMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Slack reads <...> as a link or mention and & as an entity: every text
// exoprobe puts in mrkdwn is escaped, the check line with its address and
// the server's reply included.
func TestSlackEscapes(t *testing.T) {
	n := Sample("s", "", time.Now())
	n.Firing[0].Target = "scanner"
	n.Firing[0].User = "scanner@contoso.com"
	n.Firing[0].Reply = "535 5.7.3 <@U012AB3CD> & <!channel> said <https://evil.example|click>"
	n.Scope = "a&b<c>.example"
	m := slackOf(t, &n)
	sec := m.Blocks[1].Text.Text
	for _, want := range []string{"scanner &lt;scanner@contoso.com&gt;", "&lt;@U012AB3CD&gt; &amp; &lt;!channel&gt;",
		"&lt;https://evil.example|click&gt;"} {
		if !strings.Contains(sec, want) {
			t.Errorf("section lacks %q:\n%s", want, sec)
		}
	}
	for _, raw := range []string{"<scanner@", "<@U012", "<!channel", "<https://evil"} {
		if strings.Contains(sec, raw) || strings.Contains(m.Text, raw) {
			t.Errorf("unescaped %q reaches Slack", raw)
		}
	}
	if !strings.Contains(m.Text, "a&amp;b&lt;c&gt;.example") {
		t.Errorf("top-level text not escaped: %q", m.Text)
	}
	// An & is escaped once, not twice.
	if strings.Contains(sec, "&amp;amp;") || strings.Contains(sec, "&amp;lt;") {
		t.Errorf("double escaping:\n%s", sec)
	}
}

// Cut at Slack's 3,000 characters wherever the cut falls, the section never
// leaves a ``` block open, an entity or an inline code span cut in half.
func TestSlackClipKeepsMarkupClosed(t *testing.T) {
	halfEntity := regexp.MustCompile(`&[a-z]{0,3}…$`)
	clipped := 0
	for size := 0; size <= 3200; size += 7 {
		n := Sample("s", "", time.Now())
		n.Firing[0].Reply = strings.Repeat("<", size%5) + strings.Repeat("x", size)
		// Grow the content past the limit with long fix lines inside a
		// code block, so cuts land inside it at every offset.
		c := Render(&n, "en")
		c.Fix = append(c.Fix, strings.Repeat("Set-Thing -Value & ", size/19+1))
		md := c.Markdown()
		got := slackClip(md, slackSectionMax)
		if len([]rune(got)) > slackSectionMax {
			t.Fatalf("size %d: %d runes", size, len([]rune(got)))
		}
		if got == md {
			continue
		}
		clipped++
		if strings.Count(got, "```")%2 != 0 {
			t.Fatalf("size %d: code block left open:\n%s", size, got[max(len(got)-300, 0):])
		}
		if halfEntity.MatchString(got) {
			t.Fatalf("size %d: entity cut in half: %q", size, got[len(got)-20:])
		}
		for _, line := range strings.Split(got, "\n") {
			if strings.Count(line, "`")%2 != 0 && !strings.HasPrefix(line, "```") {
				t.Fatalf("size %d: inline code left open: %q", size, line)
			}
		}
		if !strings.HasSuffix(got, "…") {
			t.Fatalf("size %d: clipped without a mark", size)
		}
	}
	if clipped < 50 {
		t.Fatalf("only %d cases were clipped: the test does not exercise the cut", clipped)
	}
}

package imapd

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"

	"github.com/exoprobe/exoprobe/sasl"
	"github.com/exoprobe/exoprobe/sim/internal/tcpserve"
	"github.com/exoprobe/exoprobe/sim/tenant"
)

type connState int

const (
	stateNotAuthenticated connState = iota
	stateAuthenticated
	stateSelected
)

// session is one client connection.
type session struct {
	srv    *Server
	log    *slog.Logger
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	secure bool // TLS in force (implicit or after STARTTLS)

	state connState
	user  string
	// notConnected: the login was accepted but the mailbox is unreachable
	// (VerdictNotConnected, I6); bads counts the I6 replies sent.
	notConnected bool
	bads         int
	selected     string
	done         bool
}

// errClose ends the session after its last reply was written.
var errClose = errors.New("imapd: close")

func (ss *session) setConn(c net.Conn) {
	ss.conn = c
	// Rebuilt after STARTTLS on purpose: bytes pipelined in clear behind
	// STARTTLS must not be read as if they came over TLS (CVE-2011-0411).
	ss.br = bufio.NewReaderSize(c, 4096)
	ss.bw = bufio.NewWriter(c)
}

func (ss *session) writeLine(s string) error {
	ss.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	ss.bw.WriteString(s)
	ss.bw.WriteString("\r\n")
	return ss.bw.Flush()
}

func (ss *session) tagged(tag, text string) error { return ss.writeLine(tag + " " + text) }

func (ss *session) era() tenant.Era {
	if ss.srv.cfg.Auth == nil {
		return tenant.DefaultEra
	}
	return ss.srv.cfg.Auth.Era()
}

// basicRetired2026 is the 2026 behaviour: LOGINDISABLED advertised and every
// Basic login refused before any account lookup (I12, I13). When the
// emulator's retirement knob is off (Set-SimTenant
// -BasicAuthRetiredImapPop:$false), the server behaves as before the
// retirement: AUTH=PLAIN offered and the tenant decides each login. That
// state does not exist in real Exchange Online; it lets a demo show Basic
// coming back where it must stay off.
func (ss *session) basicRetired2026() bool {
	return ss.era() == tenant.Era2026 && (ss.srv.cfg.Auth == nil || !ss.srv.cfg.Auth.BasicAllowed(tenant.IMAP))
}

func (ss *session) serve() {
	ss.log.Debug("connection opened")
	defer ss.log.Debug("connection closed")
	if ss.writeLine(ss.srv.greeting) != nil {
		return
	}
	for !ss.done {
		timeout := ss.srv.cfg.PreAuthTimeout
		if ss.state != stateNotAuthenticated {
			timeout = ss.srv.cfg.AuthTimeout
		}
		ss.conn.SetReadDeadline(time.Now().Add(timeout))
		tag, name, args, err := ss.readCommand()
		if err != nil {
			if errors.Is(err, errSyntax) && tag != "" {
				if ss.tagged(tag, badArgument) != nil { // I14
					return
				}
				continue
			}
			if errors.Is(err, errSyntax) {
				// inferred: an untagged line gets an untagged BAD.
				if ss.writeLine("* "+badCommand) != nil {
					return
				}
				continue
			}
			ss.log.Debug("read", "err", err)
			return
		}
		if err := ss.dispatch(tag, name, args); err != nil {
			if !errors.Is(err, errClose) {
				ss.log.Debug("command", "cmd", name, "err", err)
			}
			return
		}
	}
}

// mailboxCommands need a reachable mailbox; after VerdictNotConnected they
// get I6.
var mailboxCommands = map[string]bool{
	"SELECT": true, "EXAMINE": true, "LIST": true, "LSUB": true, "NAMESPACE": true,
	"STATUS": true, "CREATE": true, "DELETE": true, "RENAME": true, "SUBSCRIBE": true,
	"UNSUBSCRIBE": true, "APPEND": true, "IDLE": true, "XLIST": true,
}

// selectedCommands need a selected mailbox.
var selectedCommands = map[string]bool{
	"CHECK": true, "CLOSE": true, "UNSELECT": true, "EXPUNGE": true, "SEARCH": true,
	"FETCH": true, "STORE": true, "COPY": true, "MOVE": true, "UID SEARCH": true,
	"UID FETCH": true, "UID STORE": true, "UID COPY": true, "UID MOVE": true, "UID EXPUNGE": true,
}

func (ss *session) dispatch(tag, name string, args []arg) error {
	switch name {
	case "CAPABILITY":
		if len(args) != 0 {
			return ss.tagged(tag, badArgument)
		}
		if err := ss.writeLine(ss.capabilities()); err != nil {
			return err
		}
		return ss.tagged(tag, "OK CAPABILITY completed.")
	case "NOOP":
		return ss.tagged(tag, "OK NOOP completed.")
	case "ID":
		// inferred: Exchange's ID answer is not in the corpus.
		if err := ss.writeLine("* ID NIL"); err != nil {
			return err
		}
		return ss.tagged(tag, "OK ID completed.")
	case "LOGOUT":
		ss.done = true
		if err := ss.writeLine(byeSigningOff); err != nil { // I15
			return err
		}
		if err := ss.tagged(tag, "OK LOGOUT completed."); err != nil {
			return err
		}
		return errClose
	case "STARTTLS":
		return ss.startTLS(tag, args)
	case "LOGIN":
		return ss.login(tag, args)
	case "AUTHENTICATE":
		return ss.authenticate(tag, args)
	}
	if !mailboxCommands[name] && !selectedCommands[name] {
		return ss.tagged(tag, badCommand)
	}
	if ss.state == stateNotAuthenticated {
		return ss.tagged(tag, badInvalidState) // I17
	}
	if ss.notConnected {
		ss.bads++
		if ss.bads > notConnectedBADs {
			ss.done = true
			ss.writeLine(byeConnectionClosed) // I7
			return errClose
		}
		return ss.tagged(tag, badNotConnected) // I6
	}
	if selectedCommands[name] {
		if ss.state != stateSelected {
			return ss.tagged(tag, badInvalidState)
		}
		return ss.selectedCommand(tag, name)
	}
	return ss.mailboxCommand(tag, name, args)
}

func (ss *session) capabilities() string {
	era := ss.era()
	switch {
	case !ss.secure:
		return capsPlain
	case ss.state != stateNotAuthenticated && ss.basicRetired2026():
		return capsPostAuth2026
	case ss.state != stateNotAuthenticated:
		return capsPostAuth2023
	case era == tenant.Era2026 && ss.basicRetired2026():
		return capsPreAuth2026
	default:
		return capsPreAuth2023
	}
}

func (ss *session) startTLS(tag string, args []arg) error {
	if len(args) != 0 {
		return ss.tagged(tag, badArgument)
	}
	// inferred: STARTTLS over TLS, after login, or without a certificate is
	// a command in the wrong state.
	if ss.secure || ss.state != stateNotAuthenticated || ss.srv.cfg.TLS == nil {
		return ss.tagged(tag, badInvalidState)
	}
	if err := ss.tagged(tag, okStartTLS); err != nil {
		return err
	}
	tc, err := tcpserve.Handshake(ss.conn, ss.srv.cfg.TLS)
	if err != nil {
		return fmt.Errorf("imapd: starttls: %w", err)
	}
	ss.secure = true
	ss.setConn(tc)
	return nil
}

// loginAllowed answers a login command that cannot proceed in this state;
// ok is false when a reply was written.
func (ss *session) loginAllowed(tag string) (bool, error) {
	// I17: a login before TLS (LOGINDISABLED advertised) or a second login.
	if ss.state != stateNotAuthenticated || !ss.secure {
		return false, ss.tagged(tag, badInvalidState)
	}
	return true, nil
}

func (ss *session) login(tag string, args []arg) error {
	if ok, err := ss.loginAllowed(tag); !ok {
		return err
	}
	if len(args) != 2 || args[0].isList || args[1].isList {
		return ss.tagged(tag, badArgument) // I14
	}
	if ss.basicRetired2026() {
		return ss.basicDisabled(tag)
	}
	v := tenant.AuthenticateBasicAt(ss.srv.cfg.Auth, tenant.IMAP, args[0].str, args[1].str, ss.conn.RemoteAddr())
	return ss.finishLogin(tag, "LOGIN", args[0].str, v, false)
}

// basicDisabled is I12: the 2026 refusal of every Basic login, given
// "before any account lookup" (so the tenant is not asked and its lockout
// counters do not move), followed by the sign-off and a closed connection.
func (ss *session) basicDisabled(tag string) error {
	ss.log.Info("login refused", "mech", "basic", "verdict", string(tenant.VerdictBasicDisabled))
	ss.done = true
	if err := ss.tagged(tag, noBasicDisabled); err != nil {
		return err
	}
	ss.writeLine(byeSigningOff)
	return errClose
}

func (ss *session) finishLogin(tag, cmd, user string, v tenant.Verdict, bearer bool) error {
	mech := "basic"
	if bearer {
		mech = "xoauth2"
	}
	ss.log.Info("login", "mech", mech, "user", user, "verdict", string(v))
	ok := okLogin
	if cmd != "LOGIN" {
		ok = okAuthenticate
	}
	switch v {
	case tenant.VerdictOK, tenant.VerdictNotConnected:
		ss.state = stateAuthenticated
		ss.user = user
		ss.notConnected = v == tenant.VerdictNotConnected
		return ss.tagged(tag, ok)
	}
	if bearer {
		return ss.tagged(tag, bearerRefusal(v))
	}
	return ss.tagged(tag, basicRefusal(ss.era(), cmd, v))
}

func (ss *session) authenticate(tag string, args []arg) error {
	if ok, err := ss.loginAllowed(tag); !ok {
		return err
	}
	if len(args) < 1 || len(args) > 2 || args[0].isList || (len(args) == 2 && args[1].isList) {
		return ss.tagged(tag, badArgument)
	}
	mech := strings.ToUpper(args[0].str)
	var ir []byte
	if len(args) == 2 {
		// SASL-IR (RFC 4959): "=" is an empty initial response.
		if args[1].str != "=" {
			b, err := base64.StdEncoding.DecodeString(args[1].str)
			if err != nil {
				return ss.tagged(tag, noAuthenticate) // inferred
			}
			ir = b
		} else {
			ir = []byte{}
		}
	}

	var (
		user    string
		verdict tenant.Verdict
		server  gosasl.Server
		bearer  bool
	)
	switch mech {
	case "PLAIN":
		if ss.basicRetired2026() {
			return ss.basicDisabled(tag) // I12
		}
		server = gosasl.NewPlainServer(func(identity, username, password string) error {
			user = username
			verdict = tenant.AuthenticateBasicAt(ss.srv.cfg.Auth, tenant.IMAP, username, password, ss.conn.RemoteAddr())
			return nil
		})
	case sasl.XOAUTH2:
		bearer = true
		server = sasl.NewXOAUTH2Server(func(u, token string) error {
			user = u
			verdict = ss.srv.cfg.Auth.AuthenticateBearer(tenant.IMAP, u, token)
			return nil
		})
	default:
		// inferred: a mechanism Exchange does not offer.
		return ss.tagged(tag, noAuthenticate)
	}

	resp := ir
	for {
		challenge, done, err := server.Next(resp)
		if err != nil {
			// Malformed SASL data: Exchange's generic refusal (inferred).
			ss.log.Info("login", "mech", strings.ToLower(mech), "err", "malformed sasl response")
			return ss.tagged(tag, noAuthenticate)
		}
		if done {
			break
		}
		cont := contSASL
		if len(challenge) > 0 {
			cont += base64.StdEncoding.EncodeToString(challenge)
		}
		if err := ss.writeLine(cont); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		if line == "*" {
			// inferred: a cancelled exchange is refused like a failed one.
			return ss.tagged(tag, noAuthenticate)
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return ss.tagged(tag, noAuthenticate) // inferred
		}
		resp = b
	}
	return ss.finishLogin(tag, "AUTHENTICATE", user, verdict, bearer)
}

func (ss *session) selectedCommand(tag, name string) error {
	switch name {
	case "CLOSE", "UNSELECT":
		ss.state = stateAuthenticated
		ss.selected = ""
	case "SEARCH", "UID SEARCH":
		if err := ss.writeLine("* SEARCH"); err != nil {
			return err
		}
	case "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE":
		// The mailbox is empty: nothing to act on. inferred.
		return ss.tagged(tag, noUnsupported)
	}
	return ss.tagged(tag, "OK "+name+" completed.")
}

// findFolder returns the canonical name of a mailbox, or "".
func findFolder(name string) string {
	for _, f := range folders {
		if strings.EqualFold(f.name, name) && (f.name == "INBOX" || f.name == name) {
			return f.name
		}
	}
	return ""
}

func quoteMailbox(name string) string {
	if name != "" && !strings.ContainsAny(name, " \"\\()%*{") {
		return name
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"`
}

func (ss *session) mailboxCommand(tag, name string, args []arg) error {
	strArgs := func(n int) bool {
		if len(args) != n {
			return false
		}
		for _, a := range args {
			if a.isList {
				return false
			}
		}
		return true
	}
	switch name {
	case "NAMESPACE":
		if len(args) != 0 {
			return ss.tagged(tag, badArgument)
		}
		if err := ss.writeLine(`* NAMESPACE (("" "/")) NIL NIL`); err != nil {
			return err
		}
		return ss.tagged(tag, "OK NAMESPACE completed.")
	case "LIST", "LSUB", "XLIST":
		if !strArgs(2) {
			return ss.tagged(tag, badArgument)
		}
		resp := name
		if name == "XLIST" {
			resp = "LIST"
		}
		pattern := args[0].str + args[1].str
		if args[1].str == "" && name != "LSUB" {
			if err := ss.writeLine(`* LIST (\Noselect \HasChildren) "/" ""`); err != nil {
				return err
			}
			return ss.tagged(tag, "OK "+name+" completed.")
		}
		for _, f := range folders {
			if !listMatch(pattern, f.name) {
				continue
			}
			if err := ss.writeLine(fmt.Sprintf(`* %s (%s) "/" %s`, resp, f.attrs, quoteMailbox(f.name))); err != nil {
				return err
			}
		}
		return ss.tagged(tag, "OK "+name+" completed.")
	case "SELECT", "EXAMINE":
		if !strArgs(1) {
			return ss.tagged(tag, badArgument)
		}
		mbox := findFolder(args[0].str)
		if mbox == "" {
			ss.state, ss.selected = stateAuthenticated, ""
			return ss.tagged(tag, noFolderNotFound)
		}
		// An empty mailbox, as Exchange describes one (inferred from
		// client logs; the UIDVALIDITY is arbitrary but stable).
		for _, l := range []string{
			"* 0 EXISTS",
			"* 0 RECENT",
			"* FLAGS " + flagsList,
			"* OK [PERMANENTFLAGS " + flagsList + "] Permanent flags",
			"* OK [UIDVALIDITY 14] UIDVALIDITY value",
			"* OK [UIDNEXT 1] The next unique identifier value",
		} {
			if err := ss.writeLine(l); err != nil {
				return err
			}
		}
		ss.state, ss.selected = stateSelected, mbox
		mode := "[READ-WRITE]"
		if name == "EXAMINE" {
			mode = "[READ-ONLY]"
		}
		return ss.tagged(tag, "OK "+mode+" "+name+" completed.")
	case "STATUS":
		if len(args) != 2 || args[0].isList || !args[1].isList {
			return ss.tagged(tag, badArgument)
		}
		mbox := findFolder(args[0].str)
		if mbox == "" {
			return ss.tagged(tag, noFolderNotFound)
		}
		var items []string
		for _, it := range args[1].list {
			item := strings.ToUpper(it.str)
			switch item {
			case "MESSAGES", "RECENT", "UNSEEN":
				items = append(items, item+" 0")
			case "UIDNEXT":
				items = append(items, "UIDNEXT 1")
			case "UIDVALIDITY":
				items = append(items, "UIDVALIDITY 14")
			default:
				return ss.tagged(tag, badArgument)
			}
		}
		if err := ss.writeLine("* STATUS " + quoteMailbox(mbox) + " (" + strings.Join(items, " ") + ")"); err != nil {
			return err
		}
		return ss.tagged(tag, "OK STATUS completed.")
	case "IDLE":
		if len(args) != 0 {
			return ss.tagged(tag, badArgument)
		}
		if err := ss.writeLine(contIdle); err != nil {
			return err
		}
		for {
			line, err := ss.readLine()
			if err != nil {
				return err
			}
			if strings.EqualFold(line, "DONE") {
				return ss.tagged(tag, "OK IDLE completed.")
			}
		}
	}
	// CREATE, DELETE, RENAME, (UN)SUBSCRIBE, APPEND: the emulator keeps no
	// mail.
	return ss.tagged(tag, noUnsupported)
}

// listMatch matches a LIST pattern: '*' matches anything, '%' anything but
// the hierarchy delimiter. INBOX matches case-insensitively.
func listMatch(pattern, name string) bool {
	if strings.EqualFold(name, "INBOX") && strings.EqualFold(pattern, "INBOX") {
		return true
	}
	// path.Match treats '*' as not crossing '/', which is '%'; the folder
	// list is flat, so '*' and '%' behave alike here.
	p := strings.NewReplacer("%", "*", "[", `\[`, "]", `\]`, "?", `\?`, `\`, `\\`).Replace(pattern)
	ok, err := path.Match(p, name)
	return err == nil && ok
}

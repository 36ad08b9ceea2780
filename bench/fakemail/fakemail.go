// Package fakemail is a deliberately cheap IMAP, POP3 and SMTP server for
// the fleet benchmark: plaintext (no TLS, so the benchmark measures
// exoprobe rather than handshakes), no state, a fixed dialogue that speaks
// just enough of each protocol for probe.Run to go through every stage.
// Basic IMAP and POP are refused with Exchange's words for retired Basic
// authentication, everything else logs in — the shape of a tenant in 2026,
// so the classifier and the store see both outcomes.
//
// It is not an emulator: package sim is. Do not use it outside benchmarks.
package fakemail

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
)

// Replies for Basic IMAP and POP, as Exchange words them once Basic is off.
const (
	IMAPBasicRefusal = "NO Basic authentication is disabled."
	POPBasicRefusal  = "-ERR Basic authentication is disabled"
)

// Server listens on three ports of 127.0.0.1.
type Server struct {
	IMAP, POP, SMTP string

	lns []net.Listener
	wg  sync.WaitGroup
	mu  sync.Mutex
	cs  map[net.Conn]struct{}
}

// Start opens the listeners and serves until Close or ctx's end.
func Start(ctx context.Context) (*Server, error) {
	s := &Server{cs: map[net.Conn]struct{}{}}
	for _, h := range []func(*bufio.Reader, *bufio.Writer){imapSession, popSession, smtpSession} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, err
		}
		s.lns = append(s.lns, ln)
		s.wg.Add(1)
		go s.accept(ln, h)
	}
	s.IMAP, s.POP, s.SMTP = s.lns[0].Addr().String(), s.lns[1].Addr().String(), s.lns[2].Addr().String()
	context.AfterFunc(ctx, func() { s.Close() })
	return s, nil
}

// Close stops listening, closes open connections and waits for them.
func (s *Server) Close() error {
	for _, ln := range s.lns {
		ln.Close()
	}
	s.mu.Lock()
	for c := range s.cs {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) accept(ln net.Listener, h func(*bufio.Reader, *bufio.Writer)) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		s.cs[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.cs, c)
				s.mu.Unlock()
			}()
			h(bufio.NewReaderSize(c, 1024), bufio.NewWriterSize(c, 1024))
		}()
	}
}

func readLine(r *bufio.Reader) (string, bool) {
	l, err := r.ReadString('\n')
	if err != nil {
		return "", false
	}
	return strings.TrimRight(l, "\r\n"), true
}

func send(w *bufio.Writer, lines ...string) bool {
	for _, l := range lines {
		w.WriteString(l)
		w.WriteString("\r\n")
	}
	return w.Flush() == nil
}

func imapSession(r *bufio.Reader, w *bufio.Writer) {
	const caps = "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR"
	if !send(w, "* OK fakemail IMAP4 ready.") {
		return
	}
	for {
		l, ok := readLine(r)
		if !ok {
			return
		}
		tag, rest, _ := strings.Cut(l, " ")
		cmd, arg, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			ok = send(w, caps, tag+" OK CAPABILITY completed.")
		case "LOGIN":
			ok = send(w, tag+" "+IMAPBasicRefusal)
		case "AUTHENTICATE":
			mech, ir, _ := strings.Cut(arg, " ")
			if ir == "" {
				if !send(w, "+ ") {
					return
				}
				if _, ok = readLine(r); !ok {
					return
				}
			}
			if strings.EqualFold(mech, "XOAUTH2") {
				ok = send(w, tag+" OK AUTHENTICATE completed.")
			} else {
				ok = send(w, tag+" "+IMAPBasicRefusal)
			}
		case "SELECT", "EXAMINE":
			ok = send(w, "* 0 EXISTS", "* 0 RECENT", "* FLAGS (\\Seen)", "* OK [UIDVALIDITY 1] UIDVALIDITY value",
				tag+" OK [READ-ONLY] EXAMINE completed.")
		case "LOGOUT":
			send(w, "* BYE fakemail signing off.", tag+" OK LOGOUT completed.")
			return
		default:
			ok = send(w, tag+" OK "+cmd+" completed.")
		}
		if !ok {
			return
		}
	}
}

func popSession(r *bufio.Reader, w *bufio.Writer) {
	if !send(w, "+OK fakemail POP3 ready.") {
		return
	}
	for {
		l, ok := readLine(r)
		if !ok {
			return
		}
		cmd, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(cmd) {
		case "CAPA":
			ok = send(w, "+OK", "USER", "SASL XOAUTH2", "UIDL", ".")
		case "USER":
			ok = send(w, "+OK")
		case "PASS":
			ok = send(w, POPBasicRefusal)
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if ir == "" {
				if !send(w, "+ ") {
					return
				}
				if _, ok = readLine(r); !ok {
					return
				}
			}
			if strings.EqualFold(mech, "XOAUTH2") {
				ok = send(w, "+OK User successfully authenticated.")
			} else {
				ok = send(w, POPBasicRefusal)
			}
		case "STAT":
			ok = send(w, "+OK 0 0")
		case "QUIT":
			send(w, "+OK fakemail signing off.")
			return
		default:
			ok = send(w, "-ERR Protocol error.")
		}
		if !ok {
			return
		}
	}
}

func smtpSession(r *bufio.Reader, w *bufio.Writer) {
	if !send(w, "220 fakemail ESMTP ready") {
		return
	}
	for {
		l, ok := readLine(r)
		if !ok {
			return
		}
		cmd, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(cmd) {
		case "EHLO", "HELO":
			ok = send(w, "250-fakemail Hello", "250-AUTH LOGIN PLAIN XOAUTH2", "250-ENHANCEDSTATUSCODES", "250 SMTPUTF8")
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			if strings.EqualFold(mech, "LOGIN") {
				// Username and password prompts, then success.
				for _, prompt := range []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6"} {
					if ir != "" && prompt == "334 VXNlcm5hbWU6" {
						continue
					}
					if !send(w, prompt) {
						return
					}
					if _, ok = readLine(r); !ok {
						return
					}
				}
			} else if ir == "" {
				if !send(w, "334 ") {
					return
				}
				if _, ok = readLine(r); !ok {
					return
				}
			}
			ok = send(w, "235 2.7.0 Authentication successful")
		case "MAIL", "RCPT", "RSET", "NOOP":
			ok = send(w, "250 2.0.0 OK")
		case "QUIT":
			send(w, "221 2.0.0 Service closing transmission channel")
			return
		default:
			ok = send(w, "501 5.5.4 Invalid arguments")
		}
		if !ok {
			return
		}
	}
}

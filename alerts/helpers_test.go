package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

func openDB(t *testing.T, dir string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "exoprobe.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var evSeq int

// event makes a scheduler event for mailbox i of contoso.com.
func event(kind scheduler.EventKind, user string, proto probe.Protocol, cause, prev diagnose.Cause) scheduler.Event {
	evSeq++
	now := time.Now()
	target := strings.ReplaceAll(user, "@", "_at_")
	exp := scheduler.ExpectOK
	if kind == scheduler.EventUnexpectedlyOK {
		exp = scheduler.ExpectFail
	}
	return scheduler.Event{
		ID: fmt.Sprintf("%s-%06d", scheduler.NewULID(now), evSeq), Time: now, Kind: kind,
		CheckID: scheduler.MakeID(target, proto, probe.Basic), Target: target, User: user,
		Labels: map[string]string{"team": "mail"}, Protocol: proto, Mechanism: probe.Basic, Expect: exp,
		Cause: cause, PrevCause: prev, Since: now.Add(-time.Minute),
		Reply: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
	}
}

func regressed(user string) scheduler.Event {
	return event(scheduler.EventRegressed, user, probe.SMTP, diagnose.CauseSMTPAuthDisabledTenant, diagnose.CauseOK)
}

func recovered(user string) scheduler.Event {
	return event(scheduler.EventRecovered, user, probe.SMTP, diagnose.CauseOK, diagnose.CauseSMTPAuthDisabledTenant)
}

// receiver is a local HTTP stand-in for a service: it records bodies and
// headers, and answers with status (settable while running).
type receiver struct {
	mu     sync.Mutex
	status int
	answer string
	bodies [][]byte
	hdrs   []http.Header
	paths  []string
	srv    *httptest.Server
	got    chan struct{}
}

func newReceiver(t *testing.T, status int, answer string) *receiver {
	r := &receiver{status: status, answer: answer, got: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		st, ans := r.status, r.answer
		if st/100 == 2 {
			r.bodies = append(r.bodies, b)
			r.hdrs = append(r.hdrs, req.Header.Clone())
			r.paths = append(r.paths, req.URL.Path)
		}
		r.mu.Unlock()
		w.WriteHeader(st)
		io.WriteString(w, ans)
		if st/100 == 2 {
			r.got <- struct{}{}
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

func (r *receiver) all() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]http.Header(nil), r.hdrs...)
}

// wait blocks until the receiver accepted n requests in total.
func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		b, _ := r.all()
		if len(b) >= n {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(b), n)
		}
	}
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running starts a manager and returns a stop func that waits for it.
func running(t *testing.T, m *Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = m.Run(ctx)
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

func fastOpts(db *bolt.DB, sinks ...Sink) Options {
	return Options{DB: db, Sinks: sinks, GroupWait: 50 * time.Millisecond, GroupInterval: 50 * time.Millisecond,
		RepeatInterval: time.Hour, Tick: 20 * time.Millisecond, Backoff: Backoff{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		StatusURL: "http://127.0.0.1:9465/", Logger: testLogger(io.Discard)}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type bolt_Tx = bolt.Tx

var jsonMarshal = json.Marshal

func httptestServer(t *testing.T, h http.Handler) string {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

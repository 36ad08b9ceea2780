package alerts

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 9: what an alert receiver answers is read up to MaxAnswerBytes and
// no further, and the delivery error names the limit. An endless answer
// (from a broken or hostile endpoint on 127.0.0.1 here) ends the send at
// the limit, not at its deadline; one that trickles ends by the deadline.
func TestSinkAnswerLimit(t *testing.T) {
	// endless writes status, then 32 KiB chunks until the client goes,
	// counting what it sent.
	endless := func(status int, sent *atomic.Int64) http.Handler {
		chunk := []byte(strings.Repeat("x", 32<<10))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			for r.Context().Err() == nil {
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
	}
	trickle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte("o")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	})
	sinks := map[string]func(url string) Notifier{
		"webhook": func(u string) Notifier { return &Webhook{Name: "hook", URL: NewSecret(u)} },
		"slack":   func(u string) Notifier { return &Slack{Name: "slack", URL: NewSecret(u)} },
		"teams":   func(u string) Notifier { return &Teams{Name: "teams", URL: NewSecret(u)} },
		"pagerduty": func(u string) Notifier {
			return &PagerDuty{Name: "pd", RoutingKey: NewSecret("R0UTINGKEY0000000000000000000000"), URL: NewSecret(u)}
		},
		"alertmanager": func(u string) Notifier { return &Alertmanager{Name: "am", URL: NewSecret(u)} },
	}
	for name, mk := range sinks {
		for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
			t.Run(name+"/endless/"+http.StatusText(status), func(t *testing.T) {
				var sent atomic.Int64
				u := httptestServer(t, endless(status, &sent))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				start := time.Now()
				retry, err := mk(u).Notify(ctx, []Notification{sample()})
				if el := time.Since(start); el > 5*time.Second {
					t.Errorf("the send took %v: it read on past the limit", el)
				}
				var de *DeliveryError
				if !errors.As(err, &de) || !strings.Contains(err.Error(), "64 KiB") {
					t.Fatalf("err = %v, want a delivery error naming the 64 KiB limit", err)
				}
				if retry != (status >= 500) {
					t.Errorf("retry = %v for HTTP %d", retry, status)
				}
				if strings.Count(err.Error(), "x") > 300 {
					t.Errorf("the error carries the answer: %d bytes", len(err.Error()))
				}
			})
		}
		t.Run(name+"/trickle", func(t *testing.T) {
			u := httptestServer(t, trickle)
			const timeout = time.Second
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			mk(u).Notify(ctx, []Notification{sample()})
			if el := time.Since(start); el > timeout+500*time.Millisecond {
				t.Errorf("the send took %v, past its %v deadline", el, timeout)
			}
		})
	}
}

// The email sink reads at most MaxEmailSessionBytes from its mail server:
// endless "250-" lines after EHLO end the send at the limit with an error
// that names it; an endless line ends at go-smtp's own line limit.
func TestEmailSessionLimit(t *testing.T) {
	for name, script := range map[string]func(c net.Conn){
		"endless line": func(c net.Conn) {
			c.Write([]byte("220-"))
			for chunk := []byte(strings.Repeat("x", 32<<10)); ; {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		},
		"endless EHLO reply": func(c net.Conn) {
			c.Write([]byte("220 relay ready\r\n"))
			bufio.NewReader(c).ReadString('\n')
			for line := []byte("250-" + strings.Repeat("X", 500) + "\r\n"); ; {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				script(c)
			}()
			t.Cleanup(func() { l.Close(); <-done })
			e := &Email{Name: "mail", Addr: l.Addr().String(), From: "exoprobe@contoso.com", To: []string{"ops@contoso.com"}, AllowPlaintext: true}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			retry, err := e.Notify(ctx, []Notification{sample()})
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("the send took %v: it read on past the limit", el)
			}
			switch {
			case err == nil:
				t.Fatal("no error")
			case strings.Contains(err.Error(), "too long a line"):
				// go-smtp's own line limit came first: bounded too.
			case !strings.Contains(err.Error(), "MaxEmailSessionBytes") || retry:
				t.Fatalf("retry %v, err %v: want a final error naming MaxEmailSessionBytes", retry, err)
			}
		})
	}
}

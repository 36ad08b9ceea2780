package tcpserve

import (
	"bufio"
	"errors"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Close ends Serve with ErrClosed, ends live connections and waits for
// their handlers.
func TestServeClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var s Server
	started := make(chan struct{})
	handlerDone := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- s.Serve(ln, func(c net.Conn) {
			defer close(handlerDone)
			c.Write([]byte("hello\n"))
			close(started)
			// Blocks until Close closes the connection.
			bufio.NewReader(c).ReadString('\n')
		})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-handlerDone:
	default:
		t.Fatal("Close returned before the handler")
	}
	if err := <-served; !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve returned %v, want ErrClosed", err)
	}
	// Serving after Close refuses at once and closes the listener.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln2, func(net.Conn) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := ln2.Accept(); err == nil {
		t.Fatal("listener still open after Serve refused it")
	}
}

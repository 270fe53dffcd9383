package apiserver

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestMemListener(t *testing.T) {
	l := newMemListener()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := l.DialContext(context.Background(), "tcp", "loopback:80")
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	go client.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// Nobody accepting: a dial waits for its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.DialContext(ctx, "tcp", "loopback:80"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial with nobody accepting: %v", err)
	}

	// Closed: accepts and dials fail at once.
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("accept after close: %v", err)
	}
	if _, err := l.DialContext(context.Background(), "tcp", "loopback:80"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("dial after close: %v", err)
	}
}

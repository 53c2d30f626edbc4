package pgxsecret

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// The startup message may come in pieces and be followed by more in the
// same write; reads wait for it, then get the greeting, then the server.
func TestReplayConn(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	rc := newReplayConn(client, []byte("GREETING"))
	startup := make([]byte, 12)
	binary.BigEndian.PutUint32(startup, 12)
	copy(startup[4:], "startup!")

	got := make(chan []byte, 1)
	go func() { // an early reader, as pgconn's background reader
		b := make([]byte, 8)
		n, _ := io.ReadFull(rc, b)
		got <- b[:n]
	}()
	select {
	case b := <-got:
		t.Fatalf("read %q before the startup message was written", b)
	case <-time.After(50 * time.Millisecond):
	}
	if n, err := rc.Write(startup[:3]); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	fromServer := make(chan []byte, 1)
	go func() {
		b := make([]byte, 5)
		_, _ = io.ReadFull(server, b)
		fromServer <- b
	}()
	if n, err := rc.Write(append(startup[3:], "Query"...)); n != 9+5 || err != nil {
		t.Fatal(n, err)
	}
	if b := <-got; string(b) != "GREETING" {
		t.Fatalf("greeting %q", b)
	}
	if b := <-fromServer; string(b) != "Query" {
		t.Fatalf("the server got %q, want what followed the startup message", b)
	}
	go func() { _, _ = server.Write([]byte("answer")) }()
	b := make([]byte, 6)
	if _, err := io.ReadFull(rc, b); err != nil || !bytes.Equal(b, []byte("answer")) {
		t.Fatal(string(b), err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
}

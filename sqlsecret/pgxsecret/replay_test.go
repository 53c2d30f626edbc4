package pgxsecret

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
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

// The greeting replays what the server sent: a BackendKeyData only when it
// sent one (a pooler may not), else pgx would fail to decode an empty key.
func TestGreetingWithoutCancelKey(t *testing.T) {
	for _, key := range [][]byte{nil, {1, 2, 3, 4}} {
		b, err := greet(&pgconn.HijackedConn{PID: 7, SecretKey: key, TxStatus: 'I',
			ParameterStatuses: map[string]string{"server_version": "15"}})
		if err != nil {
			t.Fatal(err)
		}
		fe := pgproto3.NewFrontend(bytes.NewReader(b), io.Discard)
		var kinds []string
		for {
			m, err := fe.Receive()
			if err != nil {
				t.Fatalf("key %v: the greeting does not decode: %v", key, err)
			}
			kinds = append(kinds, fmt.Sprintf("%T", m))
			if _, ok := m.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		hasKey := slices.Contains(kinds, "*pgproto3.BackendKeyData")
		if hasKey != (key != nil) {
			t.Errorf("key %v: messages %v", key, kinds)
		}
	}
}

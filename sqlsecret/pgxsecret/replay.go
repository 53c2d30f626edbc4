package pgxsecret

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// greet encodes what the server said once it accepted the login of hc
// (AuthenticationOk, its parameters, the cancel key if it sent one,
// ReadyForQuery), for
// pgx's own connect to read again.
func greet(hc *pgconn.HijackedConn) ([]byte, error) {
	b, err := (&pgproto3.AuthenticationOk{}).Encode(nil)
	if err != nil {
		return nil, err
	}
	for name, value := range hc.ParameterStatuses {
		if b, err = (&pgproto3.ParameterStatus{Name: name, Value: value}).Encode(b); err != nil {
			return nil, err
		}
	}
	if len(hc.SecretKey) > 0 { // a server (or pooler) may send none: do not invent one
		if b, err = (&pgproto3.BackendKeyData{ProcessID: hc.PID, SecretKey: hc.SecretKey}).Encode(b); err != nil {
			return nil, err
		}
	}
	return (&pgproto3.ReadyForQuery{TxStatus: hc.TxStatus}).Encode(b)
}

// replayConn is a logged-in connection given to pgx's connect: it swallows
// the startup message pgx writes and answers with the server's greeting,
// then is the connection itself. pgconn may read (its background reader)
// while it still writes the startup message: reads wait for it.
type replayConn struct {
	net.Conn
	mu       sync.Mutex
	startup  []byte // what was written of the startup message
	greeting []byte // what is left to read of the greeting
	done     bool   // the startup message was swallowed
	ready    chan struct{}
	once     sync.Once
}

func newReplayConn(conn net.Conn, greeting []byte) *replayConn {
	return &replayConn{Conn: conn, greeting: greeting, ready: make(chan struct{})}
}

func (c *replayConn) open() { c.once.Do(func() { close(c.ready) }) }

func (c *replayConn) Close() error {
	c.open()
	return c.Conn.Close()
}

func (c *replayConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	c.startup = append(c.startup, p...)
	if len(c.startup) >= 4 {
		if n := int(binary.BigEndian.Uint32(c.startup)); len(c.startup) >= n {
			rest := c.startup[n:]
			c.startup, c.done = nil, true
			c.open()
			if len(rest) > 0 {
				if _, err := c.Conn.Write(rest); err != nil {
					return 0, err
				}
			}
		}
	}
	return len(p), nil
}

func (c *replayConn) Read(p []byte) (int, error) {
	<-c.ready
	c.mu.Lock()
	if len(c.greeting) > 0 {
		n := copy(p, c.greeting)
		c.greeting = c.greeting[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

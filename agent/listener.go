package agent

import (
	"net"
)

// ttlListener sets the IP time-to-live of accepted connections to 1, as the
// AWS agent does: answers cannot travel past the first hop, so a request
// relayed from another network (an SSRF through a proxy) gets no reply.
type ttlListener struct{ net.Listener }

func (l *ttlListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		setHopLimit(tc)
	}
	return c, nil
}

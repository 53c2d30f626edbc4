//go:build linux || darwin || freebsd || netbsd || openbsd

package agent

import (
	"net"
	"syscall"
)

// setHopLimit sets IP_TTL (IPv4) or IPV6_UNICAST_HOPS (IPv6) to 1.
func setHopLimit(c *net.TCPConn) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	v6 := false
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		v6 = true
	}
	_ = raw.Control(func(fd uintptr) {
		if v6 {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, 1)
			return
		}
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL, 1)
	})
}

//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package agent

import "net"

func setHopLimit(*net.TCPConn) {}

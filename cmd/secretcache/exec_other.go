//go:build !unix

package main

import (
	"os"
	"syscall"
)

var forwardedSignals = []os.Signal{os.Interrupt}

var changeSignals = map[string]syscall.Signal{"TERM": syscall.SIGTERM}

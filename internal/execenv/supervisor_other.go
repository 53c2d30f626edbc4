//go:build !unix

package execenv

import (
	"context"
	"errors"
	"os"
	"runtime"
)

// Supervisor runs one program; on this system it is not supported.
type Supervisor struct{}

var errUnsupported = errors.New("execenv: not supported on " + runtime.GOOS + " (process groups and POSIX signals are needed)")

// New returns an error: exec needs process groups and POSIX signals.
func New(path string, args, env []string, opts ...Option) (*Supervisor, error) {
	return nil, errUnsupported
}

// Run returns an error.
func (s *Supervisor) Run(ctx context.Context, changes <-chan []string, signals <-chan os.Signal) (int, error) {
	return 1, errUnsupported
}

// Restarts returns 0.
func (s *Supervisor) Restarts() int { return 0 }

// ChangeSignals returns 0.
func (s *Supervisor) ChangeSignals() int { return 0 }

package execenv

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// Mode says what the supervisor does when the environment changed.
type Mode int

const (
	// Restart sends the change signal, waits the kill timeout, sends
	// SIGKILL if the child still runs, and starts it again with the new
	// environment.
	Restart Mode = iota
	// SignalOnly only sends the change signal: for a program that reloads
	// by itself (from a rendered file, say). The running child keeps its
	// environment.
	SignalOnly
)

// String returns "restart" or "signal".
func (m Mode) String() string {
	if m == SignalOnly {
		return "signal"
	}
	return "restart"
}

// Option configures New.
type Option func(*config) error

type config struct {
	signal      syscall.Signal
	killTimeout time.Duration
	debounce    time.Duration
	splay       time.Duration
	mode        Mode
	logger      *slog.Logger
	reap        bool
	files       [3]*os.File
	after       func(time.Duration) <-chan time.Time
	randN       func(n int64) int64
}

func defaultConfig() config {
	return config{
		signal:      syscall.SIGTERM,
		killTimeout: 10 * time.Second,
		debounce:    time.Second,
		logger:      slog.New(slog.DiscardHandler),
		reap:        os.Getpid() == 1,
		files:       [3]*os.File{os.Stdin, os.Stdout, os.Stderr},
		after:       time.After,
		randN:       rand.Int64N,
	}
}

// WithSignal sets the signal sent to the child's process group on a change
// (default SIGTERM; SIGHUP for programs that reload on it). Zero is refused.
func WithSignal(sig syscall.Signal) Option {
	return func(c *config) error {
		if sig <= 0 || sig >= 65 {
			return fmt.Errorf("execenv: signal %d: want a signal such as SIGTERM or SIGHUP", int(sig))
		}
		c.signal = sig
		return nil
	}
}

// WithKillTimeout sets how long a restart waits after the change signal
// before SIGKILL (default 10s; it must be positive).
func WithKillTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("execenv: kill timeout %v: must be positive", d)
		}
		c.killTimeout = d
		return nil
	}
}

// WithDebounce sets how long the environment must stay the same after a
// change before the supervisor acts (default 1s; 0 acts at once; negative
// is refused). Each new change starts the wait again.
func WithDebounce(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("execenv: debounce %v: must not be negative", d)
		}
		c.debounce = d
		return nil
	}
}

// WithSplay adds a random wait in [0, d) after the debounce, so that the
// replicas of a service do not restart at the same instant (default 0;
// negative is refused).
func WithSplay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("execenv: splay %v: must not be negative", d)
		}
		c.splay = d
		return nil
	}
}

// WithMode sets what a change does: Restart (the default) or SignalOnly.
func WithMode(m Mode) Option {
	return func(c *config) error {
		if m != Restart && m != SignalOnly {
			return fmt.Errorf("execenv: mode %d: want Restart or SignalOnly", int(m))
		}
		c.mode = m
		return nil
	}
}

// WithLogger sets the logger (default: discard). Lines name variables,
// never values.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("execenv: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithReaper turns reaping of every child (as PID 1 does) on or off. The
// default is on when the process is PID 1.
func WithReaper(on bool) Option {
	return func(c *config) error { c.reap = on; return nil }
}

// WithStdio sets the child's stdin, stdout and stderr (default: the
// supervisor's own). A nil file is /dev/null.
func WithStdio(stdin, stdout, stderr *os.File) Option {
	return func(c *config) error { c.files = [3]*os.File{stdin, stdout, stderr}; return nil }
}

// WithTimers replaces time.After and the random source of the splay (tests
// drive the debounce and the splay with them). Nil keeps the default.
func WithTimers(after func(time.Duration) <-chan time.Time, randN func(n int64) int64) Option {
	return func(c *config) error {
		if after != nil {
			c.after = after
		}
		if randN != nil {
			c.randN = randN
		}
		return nil
	}
}

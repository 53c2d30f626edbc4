//go:build unix

package execenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Supervisor runs one program and restarts it when its environment
// changes. Use New, then Run once.
type Supervisor struct {
	cfg      config
	path     string
	args     []string
	env      []string
	restarts atomic.Int64
	signals  atomic.Int64
	ran      atomic.Bool
	reaper   *reaper
}

// New returns a supervisor of the program at path (an absolute or relative
// file path: resolve a bare name with exec.LookPath first) with args
// (args[0] is the name the program sees) and the first environment env
// (NAME=value entries). An empty path or args is refused.
func New(path string, args, env []string, opts ...Option) (*Supervisor, error) {
	if path == "" {
		return nil, errors.New("execenv: empty program path")
	}
	if len(args) == 0 {
		return nil, errors.New("execenv: no args: args[0] is the program's name")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("execenv: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Supervisor{cfg: cfg, path: path, args: slices.Clone(args), env: slices.Clone(env)}, nil
}

// Restarts returns how many times the child was started again after a
// change.
func (s *Supervisor) Restarts() int { return int(s.restarts.Load()) }

// ChangeSignals returns how many change signals were sent (in both modes).
func (s *Supervisor) ChangeSignals() int { return int(s.signals.Load()) }

// child is one started process.
type child struct {
	pid  int
	done <-chan int // the exit code, once
}

// stopSignals end the supervision: after one of them is forwarded, a
// change no longer restarts the child, and its exit is the supervisor's.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT}

// Run starts the child and supervises it until it exits; it returns the
// child's exit code (128+N when signal N killed it, as shells report).
//
// A value on changes is a whole new environment: when it differs from the
// one the child runs with (order does not matter), the supervisor waits the
// debounce plus a random splay (a newer change starts the wait again), then
// restarts or signals the child as its Mode says. The same pending
// environment sent again (a poll that found nothing new) does not restart
// the wait; one equal to the running environment cancels a pending change. Signals received on signals are sent to the child's
// process group. When ctx ends the child gets SIGTERM, then SIGKILL after
// the kill timeout. Run returns an error (and code 1 or 127) only when a
// child cannot be started; a second Run is refused.
func (s *Supervisor) Run(ctx context.Context, changes <-chan []string, signals <-chan os.Signal) (int, error) {
	if !s.ran.CompareAndSwap(false, true) {
		return 1, errors.New("execenv: Run called twice")
	}
	log := s.cfg.logger
	if s.cfg.reap {
		s.reaper = startReaper()
		defer s.reaper.stop()
	}
	cur := s.env
	ch, err := s.start(cur)
	if err != nil {
		return startFailCode(err), err
	}
	var (
		pending    []string
		fire       <-chan time.Time // the debounce and splay are over
		kill       <-chan time.Time // the kill timeout after a signal is over
		restarting bool
		stopping   bool
		done       = ctx.Done()
	)
	for {
		select {
		case code := <-ch.done:
			if restarting && !stopping {
				// What is left of the old program's group (a worker that
				// ignored the signal) must not run on beside the new one,
				// on the old values.
				if err := syscall.Kill(-ch.pid, syscall.SIGKILL); err == nil {
					log.Info("exec: killed what was left of the old program's process group", "pgid", ch.pid)
				}
				restarting, kill = false, nil
				cur, pending = pending, nil
				if ch, err = s.start(cur); err != nil {
					return startFailCode(err), err
				}
				s.restarts.Add(1)
				log.Info("exec: started the program again with the new environment", "pid", ch.pid)
				continue
			}
			return code, nil
		case env := <-changes:
			if stopping || restarting {
				// A restart under way starts with the newest environment.
				if restarting && env != nil {
					pending = env
				}
				continue
			}
			if sameEnv(env, cur) {
				if pending != nil {
					log.Info("exec: the environment is back to the running one; nothing to do")
				}
				pending, fire = nil, nil
				continue
			}
			if pending != nil && sameEnv(env, pending) {
				continue // the change already waits: the same again does not restart the wait
			}
			pending = env
			wait := s.cfg.debounce
			if s.cfg.splay > 0 {
				wait += time.Duration(s.cfg.randN(int64(s.cfg.splay)))
			}
			log.Info("exec: the environment changed", "variables", changedNames(cur, env), "act_in", wait)
			fire = s.cfg.after(wait)
		case <-fire:
			fire = nil
			s.signals.Add(1)
			s.kill(ch.pid, s.cfg.signal)
			if s.cfg.mode == SignalOnly {
				log.Info("exec: signalled the program to reload", "pid", ch.pid, "signal", sigName(s.cfg.signal))
				cur, pending = pending, nil
				continue
			}
			log.Info("exec: stopping the program to restart it", "pid", ch.pid, "signal", sigName(s.cfg.signal), "kill_timeout", s.cfg.killTimeout)
			restarting = true
			kill = s.cfg.after(s.cfg.killTimeout)
		case <-kill:
			kill = nil
			log.Warn("exec: the program outlived the kill timeout; sending SIGKILL", "pid", ch.pid, "kill_timeout", s.cfg.killTimeout)
			s.kill(ch.pid, syscall.SIGKILL)
		case sig := <-signals:
			ss, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			if slices.Contains(stopSignals, sig) {
				stopping, fire = true, nil
			}
			s.kill(ch.pid, ss)
		case <-done:
			done = nil
			if !stopping {
				stopping, fire = true, nil
				s.kill(ch.pid, syscall.SIGTERM)
				kill = s.cfg.after(s.cfg.killTimeout)
			}
		}
	}
}

func startFailCode(err error) int {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return 127
	}
	return 1
}

// kill signals the child's process group, or the child alone when the
// group is gone.
func (s *Supervisor) kill(pid int, sig syscall.Signal) {
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = syscall.Kill(pid, sig)
	}
}

// start starts the program with env in a process group of its own.
func (s *Supervisor) start(env []string) (*child, error) {
	files := make([]*os.File, 3)
	for i, f := range s.cfg.files {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			defer null.Close()
			f = null
		}
		files[i] = f
	}
	attr := &os.ProcAttr{Env: slices.Clone(env), Files: files, Sys: &syscall.SysProcAttr{Setpgid: true}}
	if s.reaper != nil {
		return s.reaper.start(func() (*os.Process, error) { return os.StartProcess(s.path, s.args, attr) })
	}
	p, err := os.StartProcess(s.path, s.args, attr)
	if err != nil {
		return nil, fmt.Errorf("execenv: starting %s: %w", s.args[0], unwrapPath(err))
	}
	done := make(chan int, 1)
	go func() {
		st, err := p.Wait()
		if err != nil {
			done <- 1
			return
		}
		done <- exitCode(st.Sys().(syscall.WaitStatus))
	}()
	return &child{pid: p.Pid, done: done}, nil
}

// unwrapPath drops the *PathError around a start error: the message names
// the program once.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// exitCode is the shell's exit code for a wait status.
func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

// sameEnv reports whether a and b hold the same entries in any order.
func sameEnv(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// changedNames lists the names of the variables that differ between a and
// b (never their values).
func changedNames(a, b []string) []string {
	m := map[string]string{}
	for _, e := range a {
		n, v, _ := cut(e)
		m[n] = v
	}
	var out []string
	seen := map[string]bool{}
	for _, e := range b {
		n, v, _ := cut(e)
		seen[n] = true
		if old, ok := m[n]; !ok || old != v {
			out = append(out, n)
		}
	}
	for n := range m {
		if !seen[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func cut(e string) (name, value string, ok bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}

func sigName(sig syscall.Signal) string { return sig.String() }

// reaper waits for every child of the process, as PID 1 must: orphans
// re-parented to it would otherwise stay zombies. It waits with wait4(-1)
// and hands the status of a child it started to that child's waiter, so
// that the child's own exit status is never lost.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan int
	sig     chan os.Signal
	quit    chan struct{}
	wg      sync.WaitGroup
	reaped  atomic.Int64
}

func (r *reaper) start(startFn func() (*os.Process, error)) (*child, error) {
	// The lock is held from the fork to the registration: the loop cannot
	// reap the child before its waiter is known.
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := startFn()
	if err != nil {
		return nil, fmt.Errorf("execenv: starting the program: %w", unwrapPath(err))
	}
	done := make(chan int, 1)
	r.waiters[p.Pid] = done
	pid := p.Pid
	_ = p.Release() // the reaper waits for it, not os.Process
	return &child{pid: pid, done: done}, nil
}

func (r *reaper) reapAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if ch, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			ch <- exitCode(ws)
			continue
		}
		r.reaped.Add(1)
	}
}

func (r *reaper) stop() {
	close(r.quit)
	r.wg.Wait()
	stopNotify(r.sig)
}

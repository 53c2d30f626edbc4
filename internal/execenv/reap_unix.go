//go:build unix

package execenv

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

func startReaper() *reaper {
	r := &reaper{waiters: map[int]chan int{}, sig: make(chan os.Signal, 1), quit: make(chan struct{})}
	signal.Notify(r.sig, syscall.SIGCHLD)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		// SIGCHLD signals coalesce; the tick is a safety net for one
		// that arrived while the loop was reaping.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			r.reapAll()
			select {
			case <-r.quit:
				return
			case <-r.sig:
			case <-t.C:
			}
		}
	}()
	return r
}

func stopNotify(c chan os.Signal) { signal.Stop(c) }

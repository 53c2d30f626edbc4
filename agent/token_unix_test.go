//go:build unix

package agent

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A token path that is a FIFO is refused at once: opening it would block
// the start until some writer came.
func TestTokenFileFIFORefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := LoadToken([]string{"T"}, lookupOf(map[string]string{"T": "file://" + p}), nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO token file: %v, want a refusal naming it not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadToken blocked on a FIFO")
	}
}

package secretcache

import (
	"sync/atomic"
	"unsafe"
)

// counter is a striped counter. Each goroutine adds to the stripe its stack
// address picks, so on a hot path every core keeps writing its own cache
// line instead of passing one line between cores.
type counter struct {
	cells [16]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

func (c *counter) add(n uint64) {
	var marker byte
	i := uintptr(unsafe.Pointer(&marker)) >> 12 // goroutine stacks are at least 4 KiB apart
	c.cells[(i^i>>4)&15].n.Add(n)
}

func (c *counter) inc() { c.add(1) }

func (c *counter) load() uint64 {
	var s uint64
	for i := range c.cells {
		s += c.cells[i].n.Load()
	}
	return s
}

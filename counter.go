package secretcache

import (
	"sync/atomic"
	"unsafe"
)

// stripes is the number of cells of a counter. Two goroutines share a cell
// with probability 1/stripes; 64 cells of 64 bytes cost 4 KiB a counter.
const stripes = 64

// counter is a striped counter. Each goroutine adds to the cell its stack
// address picks, so on a hot path every core keeps writing its own cache
// line instead of passing one line between cores.
type counter struct {
	cells [stripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

// add adds n and returns the new count of the cell it added to.
func (c *counter) add(n uint64) uint64 {
	var marker byte
	// Stacks are at least 4 KiB apart; a Fibonacci hash of the page number
	// spreads neighbouring stacks over the cells.
	i := uint64(uintptr(unsafe.Pointer(&marker))>>12) * 0x9E3779B97F4A7C15 >> (64 - 6)
	return c.cells[i].n.Add(n)
}

func (c *counter) inc() { c.add(1) }

func (c *counter) load() uint64 {
	var s uint64
	for i := range c.cells {
		s += c.cells[i].n.Load()
	}
	return s
}

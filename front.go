package secretcache

import (
	"hash/maphash"
	"sync/atomic"
)

// front is a direct-mapped table of entries in front of the store, for the
// common read (an id, no options): one hash, one atomic load and a key
// comparison, where the store walks a hash table and records the access.
//
// A slot holds an entry the store held when it was put there. As the store
// drops or replaces an entry (OnAtomicDeletion, under its lock of the key)
// it marks the entry dead, then empties its slot (drop); the front never
// answers with a dead entry, so it never serves what a read through the
// store would not, and it keeps no dropped value alive. A slot is claimed
// only when empty or dead: two hot ids that share one do not bounce it
// between cores, one of them reads through the store.
type front struct {
	slots []atomic.Pointer[entry]
	mask  uint64
	seed  maphash.Seed
}

// frontSlots is the size of the table: enough that a few hundred hot ids
// rarely share a slot, small beside the entries (32 KiB).
const frontSlots = 4096

func newFront(maxEntries int) front {
	n := 64
	for n < frontSlots && n < 2*maxEntries {
		n *= 2
	}
	return front{slots: make([]atomic.Pointer[entry], n), mask: uint64(n - 1), seed: maphash.MakeSeed()}
}

// get returns the live entry of id in the front, or nil.
func (f *front) get(id string) *entry {
	e := f.slots[maphash.String(f.seed, id)&f.mask].Load()
	if e == nil || e.key != id || e.flags.Load()&flagDead != 0 {
		return nil
	}
	return e
}

// put offers e, which the store held for id, to the front. If the store
// dropped e meanwhile, whichever of put and drop swaps last sees the other
// and the slot ends empty.
func (f *front) put(id string, e *entry) {
	s := &f.slots[maphash.String(f.seed, id)&f.mask]
	if old := s.Load(); old == nil || old.flags.Load()&flagDead != 0 {
		if s.CompareAndSwap(old, e) && e.flags.Load()&flagDead != 0 {
			s.CompareAndSwap(e, nil)
		}
	}
}

// drop marks e dead, as the store drops or replaces it, and takes it out
// of the front.
func (f *front) drop(e *entry) {
	e.flags.Or(flagDead)
	if k := e.key; k != "" && k[0] != 0 { // only the keys of common reads are put here
		f.slots[maphash.String(f.seed, k)&f.mask].CompareAndSwap(e, nil)
	}
}

// sampled reports whether a front hit, the n-th counted in its cell of the
// hits counter, is passed on to the store: one in 16, spread over the ids
// even when they are read in a fixed cycle, so that the store's eviction
// still sees which entries are hot.
func sampled(n uint64) bool { return n*0x9E3779B97F4A7C15>>60 == 0 }

package secretcache

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// entry is one cached secret version (or, with fail.noValue, a cached
// failure). Its fields never change after it is stored, but for the
// atomics; a refresh stores a new entry.
//
// It is kept small: the ref is read back from the key, the value is held
// in the entry rather than in a *Secret beside it, the name and the usual
// stage labels share memory the entry holds anyway, and what only a failing
// secret needs sits behind fail. See BenchmarkMemoryPerEntry.
type entry struct {
	// What a cached read touches comes first, in the entry's first cache
	// line (a 192-byte entry starts on a line): refreshAt, flags, the key
	// (which the front compares), fields and the value.
	refreshAt int64 // reads from here on start a background refresh
	flags     atomic.Uint32
	size      uint32                     // footprint, for the byte bound
	key       string                     // the store key (makeKey); refOf gives the ref back
	fields    atomic.Pointer[jsonFields] // parsed on the first GetField
	val       value

	seq       uint64 // when the fetch that produced the value started (Cache.seq)
	ttl       time.Duration
	fetchedAt int64    // unix nanos
	expireAt  int64    // from here on the value is stale
	fail      *failure // nil while the last fetch succeeded
}

// value is what the cache keeps of a Secret.
type value struct {
	data                 string // the String, or the bytes of the Binary (flagBinary)
	arn, name, versionID string
	stages               []string // shared and read-only: copied before it leaves the cache
	created              time.Time
}

// failure is the state of a secret whose last fetch failed.
type failure struct {
	err     error
	count   int   // consecutive failed fetches
	retryAt int64 // no fetch before this
	noValue bool  // a cached failure: the entry holds no value
}

const (
	flagRead         = 1 << iota // read since fetched: worth refreshing
	flagRefreshing               // handed to the refresher
	flagBinary                   // val.data is a binary value (set before the entry is stored)
	flagSharedStages             // val.stages is a stageLists copy, owned by the cache (set before)
	flagDead                     // dropped or replaced in the store: the front must not serve it
)

// touch marks e as read. It writes only on the first read, so readers on
// many cores do not pass the entry's cache line between them.
func (e *entry) touch() {
	if e.flags.Load()&flagRead == 0 {
		e.flags.Or(flagRead)
	}
}

func (e *entry) wasRead() bool    { return e.flags.Load()&flagRead != 0 }
func (e *entry) binary() bool     { return e.flags.Load()&flagBinary != 0 }
func (e *entry) refreshing() bool { return e.flags.Load()&flagRefreshing != 0 }
func (e *entry) endRefresh()      { e.flags.And(^uint32(flagRefreshing)) }

// startRefresh marks e as refreshing; it reports false if it already was.
func (e *entry) startRefresh() bool {
	for {
		f := e.flags.Load()
		if f&flagRefreshing != 0 {
			return false
		}
		if e.flags.CompareAndSwap(f, f|flagRefreshing) {
			return true
		}
	}
}

// hasValue reports whether e holds a value (it is not a cached failure).
func (e *entry) hasValue() bool { return e.fail == nil || !e.fail.noValue }

func (e *entry) retryAt() int64 {
	if e.fail == nil {
		return 0
	}
	return e.fail.retryAt
}

func (e *entry) failures() int {
	if e.fail == nil {
		return 0
	}
	return e.fail.count
}

// secretBlock is a Secret and room for its stage labels, so that a
// caller's copy of a string secret with up to two labels is one
// allocation.
type secretBlock struct {
	s      Secret
	stages [2]string
}

// secret returns a copy of the cached version that the caller owns.
func (e *entry) secret() *Secret {
	var s *Secret
	if st := e.val.stages; len(st) <= len(secretBlock{}.stages) {
		b := &secretBlock{}
		s = &b.s
		if len(st) > 0 {
			s.VersionStages = b.stages[:copy(b.stages[:], st):len(st)]
		}
	} else {
		s = &Secret{VersionStages: slices.Clone(st)}
	}
	s.ARN, s.Name, s.VersionID, s.CreatedDate = e.val.arn, e.val.name, e.val.versionID, e.val.created
	s.FetchedAt = time.Unix(0, e.fetchedAt)
	if e.binary() {
		s.Binary = []byte(e.val.data)
	} else {
		s.String = e.val.data
	}
	return s
}

func (e *entry) metadata() Metadata {
	return Metadata{ARN: e.val.arn, Name: e.val.name, VersionID: e.val.versionID,
		VersionStages: slices.Clone(e.val.stages), CreatedDate: e.val.created}
}

// withFailure returns a copy of e (same value and times) that records f.
func (e *entry) withFailure(f *failure) *entry {
	n := &entry{key: e.key, val: e.val, seq: e.seq, ttl: e.ttl, fetchedAt: e.fetchedAt,
		refreshAt: e.refreshAt, expireAt: e.expireAt, fail: f, size: e.size}
	n.flags.Store(e.flags.Load() &^ (flagRefreshing | flagDead))
	n.fields.Store(e.fields.Load())
	return n
}

// refOf returns the ref a store key stands for (see makeKey).
func (c *Cache) refOf(key string) Ref {
	if key == "" || key[0] != 0 {
		return Ref{ID: key, VersionStage: c.desc.DefaultStage}
	}
	rest := key[1:]
	i := strings.IndexByte(rest, 0)
	stage, rest := rest[:i], rest[i+1:]
	j := strings.IndexByte(rest, 0)
	return Ref{ID: rest[j+1:], VersionStage: stage, VersionID: rest[:j]}
}

// idOfKey returns the secret id within a store key.
func idOfKey(key string) string {
	if key == "" || key[0] != 0 {
		return key
	}
	return key[strings.LastIndexByte(key, 0)+1:]
}

// pinned reports whether key names an exact version id, which never changes.
func pinned(key string) bool {
	if key == "" || key[0] != 0 {
		return false
	}
	rest := key[1+strings.IndexByte(key[1:], 0)+1:]
	return rest[0] != 0
}

// stageLists interns the stage lists of answers. Most entries carry one of
// a few lists (a Secrets Manager version is AWSCURRENT, AWSPENDING or
// AWSPREVIOUS), and an entry holding the shared copy keeps none of its own:
// 32 bytes an entry. A source with ever new labels fills the table once and
// its entries then keep their own lists.
type stageLists struct {
	mu    sync.Mutex
	lists map[string][]string // by the labels joined with NUL
}

const maxStageLists = 64

// intern returns a list equal to st that the cache may keep (the source's
// slice is never kept), and whether it is the table's shared copy.
func (t *stageLists) intern(st []string) ([]string, bool) {
	if len(st) == 0 {
		return nil, false
	}
	k := st[0]
	if len(st) > 1 {
		k = strings.Join(st, "\x00")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.lists[k]; ok {
		return l, true
	}
	own := make([]string, len(st))
	for i, s := range st {
		own[i] = strings.Clone(s)
	}
	if len(t.lists) >= maxStageLists {
		return own, false
	}
	if t.lists == nil {
		t.lists = map[string][]string{}
	}
	t.lists[strings.Clone(k)] = own
	return own, true
}

// compact returns what the cache keeps of s (checked already) cached under
// key, and the flags it calls for. Strings equal to the id share its
// memory, and so does a name that its ARN spells out; a binary value and
// the stage list are copied, so that the source cannot change them in the
// cache afterwards.
func (c *Cache) compact(key string, s *Secret) (value, uint32) {
	id := idOfKey(key)
	v := value{arn: s.ARN, name: s.Name, versionID: s.VersionID, created: s.CreatedDate}
	var flags uint32
	var shared bool
	if v.stages, shared = c.stages.intern(s.VersionStages); shared {
		flags |= flagSharedStages
	}
	if v.arn == id {
		v.arn = id
	}
	if v.name == id {
		v.name = id
	} else if i := strings.LastIndex(v.arn, v.name); v.name != "" && i >= 0 {
		v.name = v.arn[i : i+len(v.name)]
	}
	if len(s.Binary) > 0 {
		v.data = string(s.Binary)
		return v, flags | flagBinary
	}
	v.data = s.String
	return v, flags
}

// entryOverhead is what an entry costs beside the strings it holds: the
// entry itself, otter's node (a 32-byte header, the key and the pointer,
// in a 64-byte size class) and its share of otter's table and policy
// (about 40 bytes, measured by BenchmarkMemoryPerEntry).
const entryOverhead = int(unsafe.Sizeof(entry{})) + 64 + 40

// footprint is the heap an entry keeps alive, as the allocator rounds it:
// its strings (each counted once, however many fields share it) and the
// overhead. Parsed JSON fields (GetField) are not counted.
func (e *entry) footprint() uint32 {
	n := entryOverhead + allocSize(len(e.key))
	owned := func(s string, shared ...string) int {
		for _, o := range shared {
			if within(s, o) {
				return 0
			}
		}
		return allocSize(len(s))
	}
	n += owned(e.val.arn, e.key)
	n += owned(e.val.name, e.key, e.val.arn)
	n += owned(e.val.versionID)
	n += owned(e.val.data)
	if st := e.val.stages; len(st) > 0 && e.flags.Load()&flagSharedStages == 0 {
		n += allocSize(len(st) * int(unsafe.Sizeof("")))
		for _, s := range st {
			n += allocSize(len(s))
		}
	}
	if e.fail != nil {
		n += allocSize(int(unsafe.Sizeof(failure{})))
	}
	return uint32(min(n, math.MaxUint32))
}

// within reports whether s lies in the memory of o.
func within(s, o string) bool {
	if len(s) == 0 || len(o) == 0 {
		return len(s) == 0
	}
	p, b := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(o)))
	return p >= b && p+uintptr(len(s)) <= b+uintptr(len(o))
}

// sizeClasses are the Go allocator's small object sizes (runtime
// SizeClassToSize, Go 1.21 to 1.26).
var sizeClasses = [...]uint16{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224,
	240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408,
	1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192,
	9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
	28672, 32768}

// allocSize is the heap the allocator gives an object of n bytes.
func allocSize(n int) int {
	if n <= 0 {
		return 0
	}
	if n > int(sizeClasses[len(sizeClasses)-1]) {
		return (n + 8191) &^ 8191 // whole pages
	}
	i, _ := slices.BinarySearch(sizeClasses[:], uint16(n))
	return int(sizeClasses[i])
}

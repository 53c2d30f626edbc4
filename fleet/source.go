package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/secretcache/secretcache"
)

// Source is a secretcache.Source (and BatchSource) that shares what it
// fetches with every host of its fleet group through Redis. Build it with
// New; it is safe for concurrent use.
type Source struct {
	rdb   redis.UniversalClient
	inner secretcache.Source
	batch secretcache.BatchSource // inner, when it batches
	kr    *Keyring
	desc  secretcache.Description // inner's, defaults filled in
	raw   secretcache.Description // inner's, as it gave it
	cfg   config
	cb    *gobreaker.CircuitBreaker[struct{}]
	n     counters
	inv   invalidations
	older []string // ids of the keyring's keys but the current one
}

var errRedisSlow = errors.New("fleet: redis did not answer in time")

// New returns a Source reading inner (the origin: an awssm.Source, say)
// through the Redis (or Valkey, ElastiCache, Redis Cluster) of rdb, with
// entries encrypted and named by kr's current key. rdb should not retry
// (MaxRetries -1) and should have short timeouts; ClientOptions gives such
// options. Whatever rdb's settings, a Redis call takes at most the Redis
// timeout (50 ms) of the reader's time: past it, or when Redis fails or its
// breaker is open, the read goes to inner directly and counts a fallback.
// A nil rdb, inner or kr is an error.
func New(rdb redis.UniversalClient, inner secretcache.Source, kr *Keyring, opts ...Option) (*Source, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("fleet: redis client is nil")
	case inner == nil:
		return nil, errors.New("fleet: source is nil")
	case kr == nil:
		return nil, errors.New("fleet: keyring is nil")
	}
	cfg := config{group: "default", maxAge: DefaultMaxAge, redisTimeout: DefaultRedisTimeout,
		leaseTTL: DefaultLeaseTTL, leaseWait: DefaultLeaseWait, breakerOpen: DefaultBreakerOpen,
		tripAfter: defaultTripAfter, pollEvery: defaultPollEvery, clock: wallClock{}, logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("fleet: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Source{rdb: rdb, inner: inner, kr: kr, cfg: cfg, desc: describe(inner), older: kr.older()}
	if d, ok := inner.(secretcache.Describer); ok {
		s.raw = d.Describe()
	}
	s.batch, _ = inner.(secretcache.BatchSource)
	trip := cfg.tripAfter
	s.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     cfg.breakerOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(trip) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			cfg.logger.Info("fleet: redis breaker", "from", from.String(), "to", to.String())
		},
	})
	return s, nil
}

// ClientOptions returns go-redis options for addrs (one address: a single
// Redis; several: a Redis Cluster's seeds) fit for New: no retries, 50 ms
// timeouts on the connection as well as on each call.
func ClientOptions(addrs ...string) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs: addrs, MaxRetries: -1, ContextTimeoutEnabled: true,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: DefaultRedisTimeout, WriteTimeout: DefaultRedisTimeout,
		PoolTimeout: DefaultRedisTimeout, MaxRedirects: 3,
	}
}

// describe returns src's Description with the core's defaults filled in.
func describe(src secretcache.Source) secretcache.Description {
	var d secretcache.Description
	if ds, ok := src.(secretcache.Describer); ok {
		d = ds.Describe()
	}
	if d.SameSecret == nil {
		d.SameSecret = func(id string, s *secretcache.Secret) bool {
			return (s.Name == "" && s.ARN == "") || s.Name == id || s.ARN == id
		}
	}
	return d
}

// Describe passes the wrapped source's rules through unchanged.
func (s *Source) Describe() secretcache.Description { return s.raw }

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{Hits: s.n.hits.Load(), Waits: s.n.waits.Load(), Misses: s.n.misses.Load(),
		Rejections: s.n.rejections.Load(), Fallbacks: s.n.fallbacks.Load(), Origin: s.n.origin.Load(),
		Writes: s.n.writes.Load(), Breaker: s.cb.State().String()}
}

// Breakers reports the wrapped source's breakers (if it has any) and the
// breaker of Redis, named "redis".
func (s *Source) Breakers() []secretcache.BreakerState {
	var out []secretcache.BreakerState
	if br, ok := s.inner.(secretcache.BreakerReporter); ok {
		out = br.Breakers()
	}
	c := s.cb.Counts()
	return append(out, secretcache.BreakerState{Name: "redis", State: s.cb.State().String(),
		Failures: int(c.ConsecutiveFailures)})
}

// entryKey is the Redis key of ref's entry. Its HMAC is a hash tag, so
// that on a Redis Cluster the entry and its lease (leaseKey) live in one
// slot, on one node: a pipeline that writes an entry and then releases its
// lease runs in that order.
func (s *Source) entryKey(ref secretcache.Ref) string {
	return "scf:e:{" + s.kr.name("entry", s.cfg.group, ref.ID, ref.VersionStage, ref.VersionID) + "}"
}

// olderKeys returns ref's Redis keys under the keyring's other keys: during
// a key rotation, hosts still on the old current key write there, and an
// entry found there is served (it opens with its own key).
func (s *Source) olderKeys(ref secretcache.Ref) []string {
	var out []string
	for _, id := range s.older {
		out = append(out, "scf:e:{"+s.kr.nameWith(id, "entry", s.cfg.group, ref.ID, ref.VersionStage, ref.VersionID)+"}")
	}
	return out
}

// pick opens the first usable of vals (ref's entry under each key).
func (s *Source) pick(ref secretcache.Ref, vals [][]byte) (*secretcache.Secret, outcome) {
	for _, b := range vals {
		if sec, st := s.check(ref, b); st != miss {
			return sec, st
		}
	}
	return nil, miss
}

func leaseKey(entryKey string) string { return "scf:l:" + entryKey[len("scf:e:"):] }

// redisDo runs fn against Redis under s's breaker, giving it at most the
// Redis timeout of the caller's time; fn's result is dropped if it comes
// later. fn must treat redis.Nil as a success.
func redisDo[T any](ctx context.Context, s *Source, fn func(ctx context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var v T
	_, err := s.cb.Execute(func() (struct{}, error) {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.redisTimeout)
		done := make(chan result, 1)
		go func() {
			defer cancel()
			x, err := fn(cctx)
			done <- result{x, err}
		}()
		t := time.NewTimer(s.cfg.redisTimeout)
		defer t.Stop()
		select {
		case r := <-done:
			v = r.v
			return struct{}{}, r.err
		case <-t.C:
			return struct{}{}, errRedisSlow
		}
	})
	return v, err
}

type outcome int

const (
	miss outcome = iota
	hit
	down
	aging // a hit past half its max age: served, and refreshed with a batch's misses
	gone  // (wait) the lease was released and the entry deleted: the origin refused the secret
)

// get reads and opens the entry of ref at key (and under the older keys of
// the keyring, in the same round trip).
func (s *Source) get(ctx context.Context, ref secretcache.Ref, key string) (*secretcache.Secret, outcome) {
	vals, err := s.getMany(ctx, append([]string{key}, s.olderKeys(ref)...))
	if err != nil {
		s.n.fallbacks.Add(1)
		return nil, down
	}
	return s.pick(ref, vals)
}

// check opens an entry read from Redis (nil: none).
func (s *Source) check(ref secretcache.Ref, b []byte) (*secretcache.Secret, outcome) {
	if b == nil {
		return nil, miss
	}
	sec, at, err := s.kr.open(s.cfg.group, ref, b, s.desc)
	if err != nil {
		s.n.rejections.Add(1)
		s.cfg.logger.Warn("fleet: L2 entry refused, reading the origin", "secret_ref_hash", s.kr.name("log", ref.String())[:12])
		return nil, miss
	}
	age := s.cfg.clock.Now().Sub(at)
	if age >= s.cfg.maxAge || age < -time.Minute || s.refOld(ref, at) { // too old, from the future, or before a notice
		return nil, miss
	}
	if age >= s.cfg.maxAge/2 {
		return sec, aging
	}
	return sec, hit
}

// Fetch reads ref from Redis; on a miss one host of the fleet takes a lease
// and reads the origin, the others wait for its write (at most the lease
// wait, then they read the origin). An entry that does not open, or is
// older than the max age, is a miss. For a forced fetch (Cache.Refresh,
// secretcache.Forced) only an entry read from the origin after the
// caller's value counts: a refused login is not answered with the value
// that was refused, and a burst of hosts refreshing at once still costs
// one origin read. Errors are the origin's, unchanged.
func (s *Source) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	after, _ := secretcache.Forced(ctx) // zero: any entry
	usable := func(sec *secretcache.Secret, st outcome) bool {
		return (st == hit || st == aging) && sec.FetchedAt.After(after)
	}
	key := s.entryKey(ref)
	sec, st := s.get(ctx, ref, key)
	switch {
	case usable(sec, st):
		s.n.hits.Add(1)
		return sec, nil
	case st == down:
		return s.direct(ctx, ref)
	}
	s.n.misses.Add(1)
	tok, got, err := s.lease(ctx, key)
	if err != nil {
		return s.direct(ctx, ref)
	}
	if got {
		defer s.release(ctx, key, tok)
		// Another host may have written and released between our GET and
		// our SET NX: look again before calling the origin.
		if sec, st := s.get(ctx, ref, key); usable(sec, st) {
			s.n.hits.Add(1)
			s.n.waits.Add(1)
			return sec, nil
		}
		return s.fill(ctx, ref, key)
	}
	sec, st = s.wait(ctx, ref, key, after)
	switch st {
	case hit, aging:
		s.n.hits.Add(1)
		s.n.waits.Add(1)
		return sec, nil
	case down:
		return s.direct(ctx, ref)
	}
	// The leaseholder did not write in time (failed, slow or gone).
	return s.fill(ctx, ref, key)
}

// Renew reads ref from the origin, bypassing Redis, and writes the answer
// to Redis for the fleet: what a host does on a rotation event.
func (s *Source) Renew(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.fill(ctx, ref, s.entryKey(ref))
}

// direct reads the origin without Redis.
func (s *Source) direct(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	s.n.origin.Add(1)
	return s.inner.Fetch(ctx, ref)
}

// fill reads the origin and writes a good answer to Redis.
func (s *Source) fill(ctx context.Context, ref secretcache.Ref, key string) (*secretcache.Secret, error) {
	at := s.cfg.clock.Now()
	sec, err := s.direct(ctx, ref)
	switch {
	case err == nil && sec != nil:
		s.write(ctx, ref, key, sec, originTime(sec, at))
	case secretcache.IsPermanent(err):
		s.publish(ctx, nil, []string{key}, nil, nil) // a deleted or revoked secret leaves the fleet too
	}
	return sec, err
}

// originTime is when sec was read from AWS: at (the time the call started),
// or earlier if the origin relays an older read itself.
func originTime(sec *secretcache.Secret, at time.Time) time.Time {
	if t := sec.FetchedAt; !t.IsZero() && t.Before(at) {
		return t
	}
	return at
}

func (s *Source) write(ctx context.Context, ref secretcache.Ref, key string, sec *secretcache.Secret, at time.Time) {
	s.publish(ctx, []answer{{ref, key, sec, at}}, nil, nil, nil)
}

// answer is an origin answer to write to Redis.
type answer struct {
	ref secretcache.Ref
	key string
	sec *secretcache.Secret
	at  time.Time // of the origin read
}

// publish writes answers to Redis, deletes the entries drop (secrets the
// origin refused for good), then releases the leases of keys (toks: their
// tokens), in one pipeline: a host waiting on a lease sees the entry, or
// its absence, as soon as the lease is gone. An entry and its lease share
// a slot (entryKey), so this order holds on a Redis Cluster too.
func (s *Source) publish(ctx context.Context, answers []answer, drop, keys, toks []string) {
	type set struct {
		key string
		b   []byte
		ttl time.Duration
	}
	var sets []set
	for _, a := range answers {
		if !answersRef(a.ref, a.sec, s.desc) {
			continue // the core refuses it; never share it
		}
		b, err := s.kr.seal(s.cfg.group, a.ref, a.sec, a.at)
		if err != nil {
			continue
		}
		if ttl := s.cfg.maxAge - s.cfg.clock.Now().Sub(a.at); ttl >= time.Millisecond {
			sets = append(sets, set{a.key, b, ttl})
		}
	}
	if len(sets) == 0 && len(drop) == 0 && len(keys) == 0 {
		return
	}
	if _, err := redisDo(context.WithoutCancel(ctx), s, func(ctx context.Context) (struct{}, error) {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, w := range sets {
				p.Set(ctx, w.key, w.b, w.ttl)
			}
			for _, k := range drop {
				p.Del(ctx, k) // one key a command: keys of a batch are in different slots
			}
			for i, k := range keys {
				releaseScript.Eval(ctx, p, []string{leaseKey(k)}, toks[i])
			}
			return nil
		})
		return struct{}{}, err
	}); err == nil {
		s.n.writes.Add(int64(len(sets)))
	}
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// lease tries to take the lease of key: leaseMany of one, so that a lost
// answer gives the lease back here too.
func (s *Source) lease(ctx context.Context, key string) (tok string, got bool, err error) {
	toks, gots, err := s.leaseMany(ctx, []string{key})
	if err != nil {
		return "", false, err
	}
	return toks[0], gots[0], nil
}

// leaseMany tries to take the leases of keys in one transaction
// (MULTI/EXEC): on one Redis, of hosts asking for the same batch at the
// same moment one takes all of it, and the fleet reads it in one origin
// call. A Redis Cluster runs one transaction per slot, so there the hosts
// may split a batch between them: more origin calls, never a wrong value.
func (s *Source) leaseMany(ctx context.Context, keys []string) (toks []string, got []bool, err error) {
	toks = make([]string, len(keys))
	for i := range toks {
		toks[i] = newToken()
	}
	got, err = redisDo(ctx, s, func(ctx context.Context) ([]bool, error) {
		cmds, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				p.SetNX(ctx, leaseKey(k), toks[i], s.cfg.leaseTTL)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out := make([]bool, len(cmds))
		for i, c := range cmds {
			out[i] = c.(*redis.BoolCmd).Val()
		}
		if len(out) != len(keys) {
			return nil, errors.New("fleet: pipeline answered the wrong number of commands")
		}
		return out, nil
	})
	if err != nil {
		// Redis may have taken some of the leases before the answer was
		// lost (a timeout, one node of a cluster failing): give back any
		// that are ours, so that no host waits on them.
		s.n.fallbacks.Add(1)
		s.publish(ctx, nil, nil, keys, toks)
	}
	return toks, got, err
}

var releaseScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

// release drops the lease if it is still ours.
func (s *Source) release(ctx context.Context, key, tok string) {
	_, _ = redisDo(context.WithoutCancel(ctx), s, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, releaseScript.Run(ctx, s.rdb, []string{leaseKey(key)}, tok).Err()
	})
}

// wait polls for another host's write of key, for at most the lease wait:
// an entry fetched after the time after (zero: any entry). When the lease
// is gone and no such entry came (the leaseholder failed: a missing
// secret, say), it stops at once and reports a miss.
func (s *Source) wait(ctx context.Context, ref secretcache.Ref, key string, after time.Time) (*secretcache.Secret, outcome) {
	secs, sts := s.waitMany(ctx, []secretcache.Ref{ref}, []string{key}, []time.Time{after})
	return secs[0], sts[0]
}

// waitMany is wait for several refs at once: one pipeline a poll, whatever
// their number.
func (s *Source) waitMany(ctx context.Context, refs []secretcache.Ref, keys []string, after []time.Time) ([]*secretcache.Secret, []outcome) {
	secs, sts := make([]*secretcache.Secret, len(refs)), make([]outcome, len(refs)) // miss
	newer := func(j int, b []byte) bool {
		sec, st := s.check(refs[j], b)
		if st == miss || !sec.FetchedAt.After(after[j]) {
			return false
		}
		secs[j], sts[j] = sec, st
		return true
	}
	deadline := time.NewTimer(s.cfg.leaseWait)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.pollEvery)
	defer tick.Stop()
	pending := allIndexes(len(refs))
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			for _, j := range pending {
				sts[j] = down
			}
			return secs, sts
		case <-deadline.C:
			return secs, sts
		case <-tick.C:
		}
		type look struct {
			b      [][]byte
			leased []bool
		}
		l, err := redisDo(ctx, s, func(ctx context.Context) (look, error) {
			gets := make([]*redis.StringCmd, len(pending))
			exs := make([]*redis.IntCmd, len(pending))
			_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for n, j := range pending {
					gets[n], exs[n] = p.Get(ctx, keys[j]), p.Exists(ctx, leaseKey(keys[j]))
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return look{}, err
			}
			l := look{make([][]byte, len(pending)), make([]bool, len(pending))}
			for n := range pending {
				b, err := gets[n].Bytes()
				if err != nil && !errors.Is(err, redis.Nil) {
					return look{}, err
				}
				l.b[n], l.leased[n] = b, exs[n].Val() > 0
			}
			return l, nil
		})
		if err != nil {
			s.n.fallbacks.Add(1)
			for _, j := range pending {
				sts[j] = down
			}
			return secs, sts
		}
		var next, released []int
		for n, j := range pending {
			switch {
			case newer(j, l.b[n]):
			case l.leased[n]:
				next = append(next, j)
			default:
				released = append(released, j)
			}
		}
		if len(released) > 0 {
			// The leaseholder writes before it releases: a GET after the
			// release sees its entry, if it wrote one.
			rk := make([]string, len(released))
			for n, j := range released {
				rk[n] = keys[j]
			}
			vals, err := s.getMany(ctx, rk)
			for n, j := range released {
				switch {
				case err != nil:
					sts[j] = down
				case vals[n] == nil:
					sts[j] = gone // the holder deleted it: the origin refused the secret
				default:
					newer(j, vals[n])
				}
			}
			if err != nil {
				s.n.fallbacks.Add(1)
			}
		}
		pending = next
	}
	return secs, sts
}

// FetchBatch reads refs from Redis in one pipeline; the misses are read
// from the origin (in batches when it batches) by whichever host leases
// them, as Fetch does.
func (s *Source) FetchBatch(ctx context.Context, refs []secretcache.Ref) []secretcache.Result {
	out := make([]secretcache.Result, len(refs))
	if err := ctx.Err(); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = s.entryKey(r)
	}
	look := slices.Clone(keys)
	for _, r := range refs {
		look = append(look, s.olderKeys(r)...)
	}
	flat, err := s.getMany(ctx, look)
	if err != nil {
		s.n.fallbacks.Add(1)
		s.originBatch(ctx, refs, allIndexes(len(refs)), out)
		return out
	}
	vals := make([][][]byte, len(refs)) // each ref's entry under the current key, then the older ones
	for i := range refs {
		vals[i] = [][]byte{flat[i]}
		base := len(refs) + i*len(s.older)
		vals[i] = append(vals[i], flat[base:base+len(s.older)]...)
	}
	var missed, old []int
	for i := range refs {
		sec, st := s.pick(refs[i], vals[i])
		switch st {
		case hit, aging:
			s.n.hits.Add(1)
			out[i].Secret = sec
			if st == aging {
				old = append(old, i)
			}
		default:
			s.n.misses.Add(1)
			missed = append(missed, i)
		}
	}
	if len(missed) == 0 && len(old) == 0 {
		return out
	}
	// The misses, and the entries past half their max age, are read from
	// the origin by the host that leases them, all in one pipeline: when
	// the hosts' caches refresh the same secrets at the same moment (their
	// ages count from the same origin read), one host reads the batch.
	cand := append(slices.Clip(missed), old...)
	ck := make([]string, len(cand))
	for j, i := range cand {
		ck[j] = keys[i]
	}
	toks, got, err := s.leaseMany(ctx, ck)
	if err != nil {
		s.originBatch(ctx, refs, missed, out) // the aging entries keep their value
		return out
	}
	var leased, waiters []int
	tok := make(map[int]string)
	for j, i := range cand {
		if got[j] {
			leased = append(leased, i)
			tok[i] = toks[j]
		} else {
			waiters = append(waiters, i)
		}
	}
	// What an aging entry served, kept if its refresh fails transiently.
	served := make(map[int]*secretcache.Secret, len(old))
	for _, i := range old {
		served[i] = out[i].Secret
	}
	if len(leased) > 0 {
		lk, lt := make([]string, len(leased)), make([]string, len(leased))
		for n, i := range leased {
			lk[n], lt[n] = keys[i], tok[i]
		}
		published := false
		defer func() { // an origin that panics must not leave the fleet's leases held
			if !published {
				s.publish(ctx, nil, nil, lk, lt)
			}
		}()
		still := s.recheck(ctx, refs, keys, leased, out, served)
		at := s.cfg.clock.Now()
		s.originBatch(ctx, refs, still, out)
		var fresh []answer
		var drop []string
		for _, i := range still {
			switch sec := served[i]; {
			case out[i].Err == nil && out[i].Secret != nil:
				fresh = append(fresh, answer{refs[i], keys[i], out[i].Secret, originTime(out[i].Secret, at)})
			case secretcache.IsPermanent(out[i].Err):
				drop = append(drop, keys[i]) // deleted or revoked: no host may serve it any more
			case sec != nil:
				out[i] = secretcache.Result{Secret: sec} // a transient failure: the aging value stands
			}
		}
		s.publish(ctx, fresh, drop, lk, lt)
		published = true
	}
	if len(waiters) == 0 {
		return out
	}
	wr, wk, wa := make([]secretcache.Ref, len(waiters)), make([]string, len(waiters)), make([]time.Time, len(waiters))
	for n, i := range waiters {
		wr[n], wk[n] = refs[i], keys[i]
		if sec := served[i]; sec != nil {
			wa[n] = sec.FetchedAt
		}
	}
	secs, sts := s.waitMany(ctx, wr, wk, wa)
	var direct, fill []int
	for n, i := range waiters {
		switch st := sts[n]; {
		case st == hit || st == aging:
			if served[i] == nil {
				s.n.waits.Add(1)
				s.n.hits.Add(1)
			}
			out[i].Secret = secs[n]
		case served[i] != nil && st != gone: // the aging value stands: the holder did not write in time
		case st == down:
			direct = append(direct, i)
		default:
			fill = append(fill, i)
		}
	}
	// The leaseholders failed or were slow: read the rest from the origin.
	s.originBatch(ctx, refs, direct, out)
	if len(fill) > 0 {
		at := s.cfg.clock.Now()
		s.originBatch(ctx, refs, fill, out)
		var fresh []answer
		for _, i := range fill {
			if out[i].Err == nil && out[i].Secret != nil {
				fresh = append(fresh, answer{refs[i], keys[i], out[i].Secret, originTime(out[i].Secret, at)})
			}
		}
		s.publish(ctx, fresh, nil, nil, nil)
	}
	return out
}

// getMany reads keys in one pipeline (nil: no such key).
func (s *Source) getMany(ctx context.Context, keys []string) ([][]byte, error) {
	return redisDo(ctx, s, func(ctx context.Context) ([][]byte, error) {
		cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		vals := make([][]byte, len(cmds))
		for i, c := range cmds {
			b, err := c.(*redis.StringCmd).Bytes()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
			vals[i] = b
		}
		if len(vals) != len(keys) {
			return nil, errors.New("fleet: pipeline answered the wrong number of commands")
		}
		return vals, nil
	})
}

// recheck looks again at the entries just leased (another host may have
// written and released them since the first read) and returns the indexes
// still to read from the origin: those with no entry newer than what they
// served (served[i], nil for a miss).
func (s *Source) recheck(ctx context.Context, refs []secretcache.Ref, keys []string, ix []int, out []secretcache.Result, served map[int]*secretcache.Secret) []int {
	sub := make([]string, len(ix))
	for j, i := range ix {
		sub[j] = keys[i]
	}
	vals, err := s.getMany(ctx, sub)
	if err != nil {
		return ix
	}
	var still []int
	for j, i := range ix {
		old := served[i]
		if sec, st := s.check(refs[i], vals[j]); st == hit && (old == nil || sec.FetchedAt.After(old.FetchedAt)) {
			if old == nil { // a miss answered by another host's write
				s.n.hits.Add(1)
				s.n.waits.Add(1)
			}
			out[i].Secret = sec
			continue
		}
		still = append(still, i)
	}
	return still
}

func allIndexes(n int) []int {
	ix := make([]int, n)
	for i := range ix {
		ix[i] = i
	}
	return ix
}

// originBatch reads refs[ix] from the origin into out, in batches of the
// origin's MaxBatch when it batches, one Fetch each (concurrently) if not.
func (s *Source) originBatch(ctx context.Context, refs []secretcache.Ref, ix []int, out []secretcache.Result) {
	s.n.origin.Add(int64(len(ix)))
	if s.batch == nil {
		var wg sync.WaitGroup
		for _, i := range ix {
			wg.Go(func() { out[i].Secret, out[i].Err = s.inner.Fetch(ctx, refs[i]) })
		}
		wg.Wait()
		return
	}
	max := s.desc.MaxBatch
	if max <= 0 {
		max = 10
	}
	for start := 0; start < len(ix); start += max {
		part := ix[start:min(start+max, len(ix))]
		sub := make([]secretcache.Ref, len(part))
		for j, i := range part {
			sub[j] = refs[i]
		}
		res := s.batch.FetchBatch(ctx, sub)
		for j, i := range part {
			if j < len(res) {
				out[i] = res[j]
			} else {
				out[i].Err = fmt.Errorf("fleet: origin batch answered %d of %d refs: %w", len(res), len(sub), secretcache.ErrMismatch)
			}
		}
	}
}

package fleet

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/secretcache/secretcache"
)

// Change notices: when a secret changes (a rotation event, say), one host
// calls Notify; every host that runs Follow then treats its entries of that
// secret fetched before the notice as old, and refreshes them: the first to
// take the lease reads the origin once, the others read its write.
//
// A notice names the secret by an HMAC of its name (never the name) on a
// channel named by an HMAC of the group, with the notice's time.

// invalidations maps a name HMAC to the unix nanos of its latest notice.
type invalidations struct{ m sync.Map }

func (iv *invalidations) mark(h string, at int64) {
	for {
		old, loaded := iv.m.LoadOrStore(h, at)
		if !loaded || old.(int64) >= at || iv.m.CompareAndSwap(h, old, at) {
			return
		}
	}
}

func (iv *invalidations) since(h string) int64 {
	if v, ok := iv.m.Load(h); ok {
		return v.(int64)
	}
	return 0
}

// names returns the names a secret id can be known by: the name inside an
// ARN (without its random suffix) and, for an ARN, its resource as written
// (a name that itself ends like a suffix).
func names(id string, nameOf func(string) string) []string {
	n := []string{nameOf(id)}
	if i := strings.Index(id, ":secret:"); strings.HasPrefix(id, "arn:") && i >= 0 {
		if r := id[i+len(":secret:"):]; r != n[0] {
			n = append(n, r)
		}
	}
	return n
}

func (s *Source) nameOf(id string) string {
	if s.desc.NameOf != nil {
		return s.desc.NameOf(id)
	}
	return id
}

func (s *Source) nameHash(name string) string { return s.kr.name("notice", s.cfg.group, name) }

func (s *Source) channel() string { return "scf:n:" + s.kr.name("channel", s.cfg.group) }

// refOld reports whether an entry of ref fetched at t predates a notice.
func (s *Source) refOld(ref secretcache.Ref, t time.Time) bool {
	return t.UnixNano() < s.inv.since(s.nameHash(s.nameOf(ref.ID)))
}

// Invalidate marks, on this host only, the entries of secret id (a name or
// an ARN) fetched before at as old. An invalid id is an error.
func (s *Source) Invalidate(id string, at time.Time) error {
	if err := secretcache.CheckID(id); err != nil {
		return err
	}
	for _, n := range names(id, s.nameOf) {
		s.inv.mark(s.nameHash(n), at.UnixNano())
	}
	return nil
}

// Notify tells every host of the group (through Redis pub/sub) and this
// one that secret id changed now. It returns an error when the id is
// invalid or Redis did not take the notice; this host is invalidated
// either way.
func (s *Source) Notify(ctx context.Context, id string) error {
	at := s.cfg.clock.Now()
	if err := s.Invalidate(id, at); err != nil {
		return err
	}
	var errs []error
	for _, n := range names(id, s.nameOf) {
		msg := s.nameHash(n) + " " + strconv.FormatInt(at.UnixNano(), 10)
		_, err := redisDo(ctx, s, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, s.rdb.Publish(ctx, s.channel(), msg).Err()
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Follow receives the group's notices until ctx ends, and for each one
// marks the secret's entries old and refreshes the entries of c that read
// it (c must be the cache over s). It returns ctx's error; while Redis is
// down it waits and subscribes again. A nil cache is an error.
func (s *Source) Follow(ctx context.Context, c *secretcache.Cache) error {
	if c == nil {
		return errors.New("fleet: Follow: cache is nil")
	}
	for {
		ps := s.rdb.Subscribe(ctx, s.channel())
		err := s.follow(ctx, ps, c)
		_ = ps.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.cfg.logger.Warn("fleet: notice subscription lost; subscribing again", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (s *Source) follow(ctx context.Context, ps *redis.PubSub, c *secretcache.Cache) error {
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		return err
	}
	ch := ps.Channel(redis.WithChannelSize(1024))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-ch:
			if !ok {
				return errors.New("channel closed")
			}
			h, at, ok := parseNotice(m.Payload)
			if !ok {
				s.cfg.logger.Warn("fleet: malformed notice dropped")
				continue
			}
			s.inv.mark(h, at)
			s.refreshMatching(ctx, c, h)
		}
	}
}

func parseNotice(p string) (h string, at int64, ok bool) {
	h, t, found := strings.Cut(p, " ")
	if !found || len(h) != 32 || len(p) > 64 {
		return "", 0, false
	}
	at, err := strconv.ParseInt(t, 10, 64)
	return h, at, err == nil && at > 0
}

// refreshMatching refreshes, concurrently, the entries of c whose secret's
// name hashes to h.
func (s *Source) refreshMatching(ctx context.Context, c *secretcache.Cache, h string) {
	var wg sync.WaitGroup
	for e := range c.Entries() {
		if s.nameHash(s.nameOf(e.Ref.ID)) != h {
			continue
		}
		var opts []secretcache.GetOption
		switch {
		case e.Ref.VersionID != "":
			continue // a version id never changes
		case e.Ref.VersionStage != "" && e.Ref.VersionStage != s.desc.DefaultStage:
			opts = append(opts, secretcache.WithVersionStage(e.Ref.VersionStage))
		}
		wg.Go(func() {
			if _, err := c.Refresh(ctx, e.Ref.ID, opts...); err != nil {
				s.cfg.logger.Warn("fleet: refresh after a notice failed", "kind", secretcache.KindName(err))
			}
		})
	}
	wg.Wait()
}

package rotate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// Resource is what a Registry manages. *Rotating[T] implements it.
type Resource interface {
	SecretID() string
	Start(ctx context.Context) error
	ForceRotation(ctx context.Context) error
	Invalidate()
	Health() Health
	Shutdown(ctx context.Context) error
}

// maxName is the longest resource name a Registry accepts.
const maxName = 128

// Registry holds named rotating resources of one cache: it starts them
// together (warming their secrets first and failing fast, naming what is
// missing), forces rotations, invalidates one by name, reports the health
// of each, and shuts them all down. It is safe for concurrent use.
type Registry struct {
	cache *secretcache.Cache

	mu       sync.Mutex
	names    []string
	items    map[string]Resource
	required []string
	closed   bool
}

// NewRegistry returns an empty registry for resources read through c. It
// fails with secretcache.ErrInvalidRequest for a nil cache.
func NewRegistry(c *secretcache.Cache) (*Registry, error) {
	if c == nil {
		return nil, &secretcache.Error{Op: "registry", Kind: secretcache.ErrInvalidRequest, Err: errors.New("nil cache")}
	}
	return &Registry{cache: c, items: map[string]Resource{}}, nil
}

// Register creates a rotating resource for the secret id (as New does),
// names it and adds it to reg. It fails as New does, with ErrDuplicate for
// a name already taken, with secretcache.ErrInvalidRequest for an empty,
// over-128-byte or non-printable name, and with ErrClosed after Shutdown. A
// resource registered after Start is started by the next Start call.
func Register[T any](reg *Registry, name, id string, spec Spec[T], opts ...Option) (*Rotating[T], error) {
	if reg == nil {
		return nil, invalidArg(id, "nil registry")
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	r, err := New(reg.cache, id, spec, append(opts, withName(name))...)
	if err != nil {
		return nil, err
	}
	if err := reg.Add(name, r); err != nil {
		return nil, err
	}
	return r, nil
}

func validName(name string) error {
	ok := name != "" && len(name) <= maxName
	for _, c := range name {
		if c < ' ' || c == 0x7f || c == '\uFFFD' {
			ok = false
		}
	}
	if !ok {
		name = clip.ID(name)
		return &secretcache.Error{Op: "registry", Kind: secretcache.ErrInvalidRequest,
			Err: fmt.Errorf("resource name %q must be 1..%d printable characters", name, maxName)}
	}
	return nil
}

// Add adds a resource under name. It fails with ErrDuplicate for a name
// already taken, secretcache.ErrInvalidRequest for a bad name or a nil
// resource, and ErrClosed after Shutdown.
func (g *Registry) Add(name string, res Resource) error {
	if err := validName(name); err != nil {
		return err
	}
	if res == nil {
		return &secretcache.Error{Op: "registry", Kind: secretcache.ErrInvalidRequest, Err: errors.New("nil resource")}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("rotate: add %q: %w", name, ErrClosed)
	}
	if _, ok := g.items[name]; ok {
		return fmt.Errorf("rotate: add %q: %w", name, ErrDuplicate)
	}
	g.items[name] = res
	g.names = append(g.names, name)
	return nil
}

// Require adds secrets that Start must be able to read, besides those of the
// resources (secrets the program reads directly). It fails with
// secretcache.ErrInvalidRequest for an empty, oversized or malformed id.
func (g *Registry) Require(ids ...string) error {
	for _, id := range ids {
		if secretcache.CheckID(id) != nil {
			return invalidID(id)
		}
	}
	g.mu.Lock()
	g.required = append(g.required, ids...)
	g.mu.Unlock()
	return nil
}

func (g *Registry) snapshot() ([]string, []Resource) {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := append([]string(nil), g.names...)
	res := make([]Resource, len(names))
	for i, n := range names {
		res[i] = g.items[n]
	}
	return names, res
}

// Start warms every required secret in one batched pass (cache.Warm) and
// fails fast with a *MissingSecretsError naming each secret it could not
// read, the reason (not_found, access_denied, ...) and the resources that
// need it. Then it starts the resources in the order they were added. If
// one fails, Start closes those it started and returns that resource's
// *Error; the registry is unusable afterwards. It fails with ErrClosed after
// Shutdown; a second successful Start only starts resources added since.
func (g *Registry) Start(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return fmt.Errorf("rotate: start: %w", ErrClosed)
	}
	required := append([]string(nil), g.required...)
	g.mu.Unlock()
	names, res := g.snapshot()

	users := map[string][]string{}
	ids := []string{}
	add := func(id, user string) {
		if _, ok := users[id]; !ok {
			ids = append(ids, id)
			users[id] = nil
		}
		if user != "" {
			users[id] = append(users[id], user)
		}
	}
	for _, id := range required {
		add(id, "")
	}
	for i, r := range res {
		add(r.SecretID(), names[i])
	}
	if len(ids) > 0 {
		if err := g.cache.Warm(ctx, ids...); err != nil {
			failed := secretErrors(err)
			if len(failed) == 0 { // the whole call failed: closed cache, cancelled context
				return fmt.Errorf("rotate: start: %w", err)
			}
			me := &MissingSecretsError{}
			for _, id := range ids {
				if se, ok := failed[id]; ok {
					me.Missing = append(me.Missing, MissingSecret{SecretID: id, Kind: secretcache.KindName(se), Resources: users[id], Err: se})
				}
			}
			return me
		}
	}
	for i, r := range res {
		if err := r.Start(ctx); err != nil {
			for j := range i {
				_ = res[j].Shutdown(context.WithoutCancel(ctx))
			}
			g.mu.Lock()
			g.closed = true
			g.mu.Unlock()
			return fmt.Errorf("rotate: start %q: %w", names[i], err)
		}
	}
	return nil
}

// Get returns the resource named name, or nil.
func (g *Registry) Get(name string) Resource {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.items[name]
}

// Names returns the resource names in the order they were added.
func (g *Registry) Names() []string {
	names, _ := g.snapshot()
	return names
}

// ForceRotation forces the rotation of the resource named name (see
// Rotating.ForceRotation). It fails with ErrUnknown for a name not in the
// registry.
func (g *Registry) ForceRotation(ctx context.Context, name string) error {
	r := g.Get(name)
	if r == nil {
		return fmt.Errorf("rotate: force rotation of %q: %w", clip.ID(name), ErrUnknown)
	}
	return r.ForceRotation(ctx)
}

// ForceRotationAll forces the rotation of every resource, one after the
// other, and returns their failures joined (nil when all succeeded).
func (g *Registry) ForceRotationAll(ctx context.Context) error {
	_, res := g.snapshot()
	var errs []error
	for _, r := range res {
		if err := r.ForceRotation(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Invalidate invalidates the resource named name (see
// Rotating.Invalidate). It fails with ErrUnknown for a name not in the
// registry.
func (g *Registry) Invalidate(name string) error {
	r := g.Get(name)
	if r == nil {
		return fmt.Errorf("rotate: invalidate %q: %w", clip.ID(name), ErrUnknown)
	}
	r.Invalidate()
	return nil
}

// Health returns the health of every resource, in the order they were
// added.
func (g *Registry) Health() []Health {
	names, res := g.snapshot()
	out := make([]Health, len(res))
	for i, r := range res {
		out[i] = r.Health()
		out[i].Name = names[i]
	}
	return out
}

// Check sums the registry up for a health endpoint: status is "unhealthy"
// if any resource is, else "degraded" if any is, else "healthy" (also for
// an empty registry); message names the resources that are not healthy and
// why (kinds only); details maps each resource name to its Health.
func (g *Registry) Check(context.Context) (status, message string, details map[string]any) {
	hs := g.Health()
	status = StatusHealthy
	details = make(map[string]any, len(hs))
	var bad []string
	counts := map[string]int{}
	for _, h := range hs {
		details[h.Name] = h
		counts[h.Status]++
		switch h.Status {
		case StatusUnhealthy:
			status = StatusUnhealthy
		case StatusDegraded:
			if status == StatusHealthy {
				status = StatusDegraded
			}
		}
		if h.Status != StatusHealthy {
			why := h.Status
			if h.LastErrorKind != "" {
				why += ", " + h.LastErrorKind
			}
			bad = append(bad, strconv.Quote(h.Name)+" ("+why+")")
		}
	}
	message = fmt.Sprintf("%d resource(s), %d healthy", len(hs), counts[StatusHealthy])
	if len(bad) > 0 {
		message += "; " + strings.Join(bad, ", ")
	}
	return status, message, details
}

// Shutdown shuts every resource down (see Rotating.Shutdown), all at once,
// and waits for them or ctx. It returns their errors joined. Start and Add
// fail afterwards; a second Shutdown does nothing more.
func (g *Registry) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	_, res := g.snapshot()
	errs := make([]error, len(res))
	var wg sync.WaitGroup
	for i, r := range res {
		wg.Go(func() { errs[i] = r.Shutdown(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

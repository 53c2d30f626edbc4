package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
	"github.com/secretcache/secretcache/rotate"
)

// client stands for anything built from a secret: a database pool, an API
// client.
type client struct{ token string }

func (c *client) Close() error { return nil }

func clientSpec() rotate.Spec[*client] {
	return rotate.Spec[*client]{
		Build: func(_ context.Context, s *secretcache.Secret) (*client, error) {
			return &client{token: s.String}, nil
		},
		Validate: func(_ context.Context, c *client) error {
			if strings.HasPrefix(c.token, "revoked") {
				return errors.New("token rejected") // never put the token in an error
			}
			return nil
		},
		// Close is optional: *client is an io.Closer.
	}
}

func exampleCache(src *fakeSource) *secretcache.Cache {
	c, _ := secretcache.New(src, secretcache.WithLogger(quiet()))
	return c
}

func ExampleNew() {
	src := newFakeSource()
	src.set("prod/api-key/payments", "token-1")
	c := exampleCache(src)
	defer c.Close()
	ctx := context.Background()

	r, err := rotate.New(c, "prod/api-key/payments", clientSpec(),
		rotate.WithDrain(time.Second), rotate.WithLogger(quiet()))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	fmt.Println(r.Get().token, r.Health().Status, r.Health().VersionID)

	// The secret rotates: the cache's next refresh tells r, which rebuilds.
	src.set("prod/api-key/payments", "token-2")
	_, _ = c.Refresh(ctx, "prod/api-key/payments")
	for r.Get().token != "token-2" {
		time.Sleep(time.Millisecond)
	}
	fmt.Println(r.Get().token, r.Health().Rotations)
	// Output:
	// token-1 healthy v1
	// token-2 1
}

func ExampleNew_badInput() {
	c := exampleCache(newFakeSource())
	defer c.Close()
	_, err := rotate.New(c, "", clientSpec())
	fmt.Println(err)
	_, err = rotate.New(c, "id", rotate.Spec[*client]{})
	fmt.Println(err)
	// Output:
	// secretcache: rotate invalid request: secret id must be 1..2048 printable characters without spaces
	// secretcache: rotate "id": invalid request: nil Build function
}

func ExampleRotating_ForceRotation() {
	src := newFakeSource()
	src.set("svc", "token-1")
	c := exampleCache(src)
	defer c.Close()
	ctx := context.Background()
	r, _ := rotate.New(c, "svc", clientSpec(), rotate.WithLogger(quiet()), rotate.WithDrain(0))
	_ = r.Start(ctx)
	defer r.Close()

	src.set("svc", "revoked-token") // the new version does not validate
	err := r.ForceRotation(ctx)
	fmt.Println(errors.Is(err, rotate.ErrValidation))
	h := r.Health()
	fmt.Println(r.Get().token, h.Status, h.LastErrorKind, h.VersionID, h.PendingVersionID)
	// Output:
	// true
	// token-1 degraded validation_failed v1 v2
}

func ExampleRotating_ReportFailure() {
	src := newFakeSource()
	src.set("svc", "token-1")
	c := exampleCache(src)
	defer c.Close()
	r, _ := rotate.New(c, "svc", clientSpec(), rotate.WithLogger(quiet()))
	_ = r.Start(context.Background())
	defer r.Close()

	src.set("svc", "token-2")
	// A call with the resource was refused (a 401, a failed login): the
	// secret is refreshed at once instead of at the end of its TTL.
	r.ReportFailure(errors.New("401 Unauthorized"))
	for r.Get().token != "token-2" {
		time.Sleep(time.Millisecond)
	}
	fmt.Println(r.Get().token)
	// Output: token-2
}

func ExampleRotating_Invalidate() {
	src := newFakeSource()
	src.set("svc", "token-1")
	c := exampleCache(src)
	defer c.Close()
	r, _ := rotate.New(c, "svc", clientSpec(), rotate.WithLogger(quiet()))
	_ = r.Start(context.Background())
	defer r.Close()
	first := r.Get()
	r.Invalidate() // refetch and rebuild in the background; first serves meanwhile
	for r.Get() == first {
		time.Sleep(time.Millisecond)
	}
	fmt.Println(r.Get().token, r.Health().Rotations)
	// Output: token-1 1
}

func ExampleRotating_Shutdown() {
	src := newFakeSource()
	src.set("svc", "token-1")
	c := exampleCache(src)
	defer c.Close()
	r, _ := rotate.New(c, "svc", clientSpec(), rotate.WithLogger(quiet()))
	_ = r.Start(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(r.Shutdown(ctx), r.Get() == nil, r.Health().Status)
	// Output: <nil> true unhealthy
}

func ExampleRegistry_Start() {
	src := newFakeSource()
	src.set("prod/database/orders", "token-1")
	c := exampleCache(src)
	defer c.Close()
	reg, _ := rotate.NewRegistry(c)
	_, _ = rotate.Register(reg, "orders", "prod/database/orders", clientSpec(), rotate.WithLogger(quiet()))
	_, _ = rotate.Register(reg, "billing", "prod/database/billing", clientSpec(), rotate.WithLogger(quiet()))
	_ = reg.Require("prod/api-key/stripe")

	err := reg.Start(context.Background())
	fmt.Println(err)
	var me *rotate.MissingSecretsError
	if errors.As(err, &me) {
		for _, m := range me.Missing {
			fmt.Println(m.SecretID, m.Kind, m.Resources)
		}
	}
	fmt.Println(errors.Is(err, secretcache.ErrNotFound))
	// Output:
	// rotate: 2 required secret(s) unavailable: "prod/api-key/stripe" (not_found), "prod/database/billing" (not_found; needed by billing)
	// prod/api-key/stripe not_found []
	// prod/database/billing not_found [billing]
	// true
}

func ExampleRegistry_Check() {
	src := newFakeSource()
	src.set("a", "token-a")
	src.set("b", "token-b")
	c := exampleCache(src)
	defer c.Close()
	ctx := context.Background()
	reg, _ := rotate.NewRegistry(c)
	_, _ = rotate.Register(reg, "a", "a", clientSpec(), rotate.WithLogger(quiet()))
	_, _ = rotate.Register(reg, "b", "b", clientSpec(), rotate.WithLogger(quiet()))
	if err := reg.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Shutdown(ctx)
	src.set("b", "revoked")
	_ = reg.ForceRotation(ctx, "b")
	status, msg, _ := reg.Check(ctx)
	fmt.Println(status)
	fmt.Println(msg)
	_ = reg.ForceRotationAll(ctx)
	fmt.Println(reg.Invalidate("c"))
	// Output:
	// degraded
	// 2 resource(s), 1 healthy; "b" (degraded, validation_failed)
	// rotate: invalidate "c": unknown resource
}

func ExampleRegistry_Shutdown() {
	src := newFakeSource()
	src.set("a", "token-a")
	c := exampleCache(src)
	defer c.Close()
	reg, _ := rotate.NewRegistry(c)
	a, _ := rotate.Register(reg, "a", "a", clientSpec(), rotate.WithLogger(quiet()))
	_ = reg.Start(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(reg.Shutdown(ctx), a.Get() == nil)
	// Output: <nil> true
}

func ExampleRegistry_RegisterWith() {
	src := newFakeSource()
	src.set("prod/api-key/payments", "token-1")
	c := exampleCache(src)
	defer c.Close()
	ctx := context.Background()
	reg, _ := rotate.NewRegistry(c)
	_, _ = rotate.Register(reg, "payments", "prod/api-key/payments", clientSpec(), rotate.WithLogger(quiet()))
	_ = reg.Start(ctx)
	defer reg.Shutdown(ctx)

	m := monitor.New(c)
	reg.RegisterWith(m, "") // under "rotating_resources" in /health/secrets
	comp := m.Health(ctx).Components[rotate.DefaultComponent]
	fmt.Println(comp.Status, comp.Message)
	// Output: healthy 1 resource(s), 1 healthy
}

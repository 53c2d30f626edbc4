package rotate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
)

func TestRegistryStartFailsFastNamingMissing(t *testing.T) {
	src := newFakeSource()
	src.set("prod/database/orders", "pw")
	c := newCache(t, src)
	reg, err := rotate.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if _, err := rotate.Register(reg, "orders-db", "prod/database/orders", rec.spec(), fast...); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate.Register(reg, "billing-db", "prod/database/billing", rec.spec(), fast...); err != nil {
		t.Fatal(err)
	}
	if err := reg.Require("prod/api-key/stripe", "prod/database/orders"); err != nil {
		t.Fatal(err)
	}
	calls := src.calls.Load()
	err = reg.Start(context.Background())
	var me *rotate.MissingSecretsError
	if !errors.As(err, &me) || len(me.Missing) != 2 {
		t.Fatalf("%v", err)
	}
	if !errors.Is(err, secretcache.ErrNotFound) {
		t.Fatal("not ErrNotFound")
	}
	if me.Missing[0].SecretID != "prod/api-key/stripe" || me.Missing[0].Kind != "not_found" || len(me.Missing[0].Resources) != 0 ||
		me.Missing[1].SecretID != "prod/database/billing" || me.Missing[1].Resources[0] != "billing-db" {
		t.Fatalf("%+v", me.Missing)
	}
	msg := err.Error()
	for _, want := range []string{"prod/api-key/stripe", "billing-db", "not_found"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%q lacks %q", msg, want)
		}
	}
	if src.calls.Load()-calls != 3 { // one fetch per distinct secret, no build attempted
		t.Fatalf("%d fetches", src.calls.Load()-calls)
	}
	if len(rec.all()) != 0 {
		t.Fatal("built before every secret was there")
	}
	if h := reg.Health(); h[0].Status != rotate.StatusUnhealthy {
		t.Fatalf("%+v", h)
	}
	_ = reg.Shutdown(context.Background())
}

// twoResources is a registry of two resources, orders-db and billing-db,
// not started yet.
type twoResources struct {
	src             *fakeSource
	c               *secretcache.Cache
	reg             *rotate.Registry
	rec             *recorder
	orders, billing *rotate.Rotating[*resource]
}

func newTwoResources(t *testing.T) *twoResources {
	t.Helper()
	tr := &twoResources{src: newFakeSource(), rec: &recorder{}}
	tr.src.set("prod/database/orders", "pw1")
	tr.src.set("prod/database/billing", "pw1")
	tr.c = newCache(t, tr.src)
	tr.reg, _ = rotate.NewRegistry(tr.c)
	var err error
	if tr.orders, err = rotate.Register(tr.reg, "orders-db", "prod/database/orders", tr.rec.spec(), fast...); err != nil {
		t.Fatal(err)
	}
	if tr.billing, err = rotate.Register(tr.reg, "billing-db", "prod/database/billing", tr.rec.spec(), fast...); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestRegistryLifecycle(t *testing.T) {
	tr := newTwoResources(t)
	src, c, reg, rec, orders, billing := tr.src, tr.c, tr.reg, tr.rec, tr.orders, tr.billing
	ctx := context.Background()
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if orders.Name() != "orders-db" || reg.Get("orders-db") == nil || reg.Get("nope") != nil {
		t.Fatal("names")
	}
	if n := reg.Names(); len(n) != 2 || n[0] != "orders-db" {
		t.Fatal(n)
	}
	status, msg, details := reg.Check(ctx)
	if status != rotate.StatusHealthy || len(details) != 2 || !strings.Contains(msg, "2 healthy") {
		t.Fatal(status, msg, details)
	}
	if err := reg.ForceRotationAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reg.ForceRotation(ctx, "orders-db"); err != nil {
		t.Fatal(err)
	}
	hs := reg.Health()
	if hs[0].Rotations != 2 || hs[1].Rotations != 1 || hs[0].Name != "orders-db" {
		t.Fatalf("%+v", hs)
	}

	// A bad password on billing: degraded, and the old resource keeps serving.
	old := billing.Get()
	src.set("prod/database/billing", "bad")
	if _, err := c.Refresh(ctx, "prod/database/billing"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "degraded", func() bool { s, _, _ := reg.Check(ctx); return s == rotate.StatusDegraded })
	_, msg, details = reg.Check(ctx)
	if !strings.Contains(msg, `"billing-db" (degraded, validation_failed)`) || billing.Get() != old {
		t.Fatal(msg)
	}
	js, err := json.Marshal(details)
	if err != nil || strings.Contains(string(js), "bad") && !strings.Contains(string(js), "pending") {
		t.Fatal(string(js), err)
	}
	if err := reg.ForceRotationAll(ctx); !errors.Is(err, rotate.ErrValidation) {
		t.Fatal(err)
	}

	src.set("prod/database/orders", "pw2")
	if err := reg.Invalidate("orders-db"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "invalidate", func() bool { return orders.Get().value == "pw2" })
	if err := reg.Invalidate("nope"); !errors.Is(err, rotate.ErrUnknown) {
		t.Fatal(err)
	}
	if err := reg.ForceRotation(ctx, "nope"); !errors.Is(err, rotate.ErrUnknown) {
		t.Fatal(err)
	}

	shutdownClosesAll(t, reg, rec)
}

// shutdownClosesAll shuts reg down and checks that every resource rec
// built is closed and that reg refuses to start or register again.
func shutdownClosesAll(t *testing.T, reg *rotate.Registry, rec *recorder) {
	t.Helper()
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := reg.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.all() {
		if !r.closed.Load() {
			t.Fatalf("%s/%s left open", r.version, r.value)
		}
	}
	if status, _, _ := reg.Check(ctx); status != rotate.StatusUnhealthy {
		t.Fatal(status)
	}
	if err := reg.Start(ctx); !errors.Is(err, rotate.ErrClosed) {
		t.Fatal(err)
	}
	if _, err := rotate.Register(reg, "late", "x", rec.spec()); !errors.Is(err, rotate.ErrClosed) {
		t.Fatal(err)
	}
	if err := reg.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryStartFailureClosesStarted(t *testing.T) {
	src := newFakeSource()
	src.set("a", "pw")
	src.set("b", "bad")
	c := newCache(t, src)
	reg, _ := rotate.NewRegistry(c)
	rec := &recorder{}
	a, _ := rotate.Register(reg, "a", "a", rec.spec(), fast...)
	if _, err := rotate.Register(reg, "b", "b", rec.spec(), fast...); err != nil {
		t.Fatal(err)
	}
	err := reg.Start(context.Background())
	var re *rotate.Error
	if !errors.Is(err, rotate.ErrValidation) || !errors.As(err, &re) || re.Name != "b" || !strings.Contains(err.Error(), `"b"`) {
		t.Fatal(err)
	}
	if a.Get() != nil {
		t.Fatal("a left running")
	}
	for _, r := range rec.all() {
		if !r.closed.Load() {
			t.Fatal("left open")
		}
	}
}

func TestRegistryBadInput(t *testing.T) {
	if _, err := rotate.NewRegistry(nil); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	c := newCache(t, newFakeSource())
	reg, _ := rotate.NewRegistry(c)
	spec := (&recorder{}).spec()
	for _, name := range []string{"", "a\nb", strings.Repeat("n", rotate.MaxName+1), "\xff"} {
		if _, err := rotate.Register(reg, name, "id", spec); !errors.Is(err, secretcache.ErrInvalidRequest) {
			t.Fatalf("%.20q: %v", name, err)
		}
	}
	if _, err := rotate.Register(reg, "x", "id", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := rotate.Register(reg, "x", "id", spec); !errors.Is(err, rotate.ErrDuplicate) {
		t.Fatal(err)
	}
	if _, err := rotate.Register(nil, "y", "id", spec); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if _, err := rotate.Register(reg, "y", "bad id", spec); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if err := reg.Add("z", nil); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	if err := reg.Require("ok", ""); !errors.Is(err, secretcache.ErrInvalidRequest) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reg.Start(ctx); err == nil {
		t.Fatal("cancelled start succeeded")
	}
	empty, _ := rotate.NewRegistry(c)
	if err := empty.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := empty.Check(context.Background()); s != rotate.StatusHealthy {
		t.Fatal(s)
	}
}

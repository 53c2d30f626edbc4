package sqlsecret_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
	"github.com/secretcache/secretcache/sqlsecret"
)

// A new version with a wrong password (the database never got it): the
// rotating pool keeps the old pool serving and reports itself degraded,
// the Connector keeps connecting with the last good credentials, and no
// query fails. When a right version comes, both follow it.
func TestValidationFailureKeepsOldPool(t *testing.T) {
	e := newEnv(t, secretcache.WithTTL(time.Hour))
	const id = "test/database/validate"
	pw1 := randomPassword()
	e.addUser(t, id, "val_user", pw1)
	ctx := context.Background()

	reg, pool := startRegistry(t, e.cache, id)
	defer reg.Shutdown(ctx)
	first, _ := pool.Version()

	conn, _ := sqlsecret.New(e.cache, id, opts()...)
	direct := sql.OpenDB(conn)
	configurePool(direct, 100*time.Millisecond)
	defer direct.Close()

	lp := startLoad("rotating pool", pool.Get, 150, 4)
	ld := startLoad("connector", func() *sql.DB { return direct }, 150, 4)
	time.Sleep(300 * time.Millisecond)

	// Someone stores a wrong password as AWSCURRENT.
	bad := e.put(t, id, "val_user", randomPassword())
	if _, err := e.cache.Refresh(ctx, id); err != nil { // the cache notices (as at the end of its TTL)
		t.Fatal(err)
	}
	eventually(t, "degraded health", func() bool { s, _, _ := reg.Check(ctx); return s == rotate.StatusDegraded })
	time.Sleep(500 * time.Millisecond) // old connections expire; new ones must still work
	status, msg, details := reg.Check(ctx)
	h := details["orders-db"].(rotate.Health)
	if status != rotate.StatusDegraded || h.VersionID != first.VersionID || h.PendingVersionID != bad ||
		h.LastErrorKind != "validation_failed" || h.Failures < 2 {
		t.Fatalf("%s %s %+v", status, msg, h)
	}
	if !strings.Contains(msg, `"orders-db" (degraded, validation_failed)`) {
		t.Fatal(msg)
	}
	js, _ := json.Marshal(details)
	if strings.Contains(string(js), pw1) {
		t.Fatal("password in health")
	}
	if st := conn.Stats(); st.LastGoodUsed == 0 || !st.CurrentRefused {
		t.Fatalf("the connector did not fall back: %+v", st)
	}

	// The right password goes in: both follow.
	pw3 := randomPassword()
	if err := e.pg.SetPassword(ctx, "val_user", pw3); err != nil {
		t.Fatal(err)
	}
	good := e.put(t, id, "val_user", pw3)
	eventually(t, "recovery", func() bool {
		h := pool.Health()
		return h.Status == rotate.StatusHealthy && h.VersionID == good
	})
	time.Sleep(300 * time.Millisecond)
	lp.halt()
	ld.halt()
	t.Logf("%v", lp)
	t.Logf("%v", ld)
	t.Logf("connector: %+v", conn.Stats())
	if lp.failed.Load() != 0 || ld.failed.Load() != 0 {
		t.Fatalf("failed queries: pool %d %v, connector %d %v", lp.failed.Load(), lp.errs, ld.failed.Load(), ld.errs)
	}
	if lp.ok.Load() < 100 || ld.ok.Load() < 100 {
		t.Fatal("too little load")
	}
	if st := conn.Stats(); st.CurrentRefused || st.LastGoodVersion != good {
		t.Fatalf("%+v", st)
	}
}

// startRegistry starts a registry holding one PoolSpec pool of the secret
// id, orders-db, quick to retry a version that fails to validate.
func startRegistry(t *testing.T, c *secretcache.Cache, id string) (*rotate.Registry, *rotate.Rotating[*sql.DB]) {
	t.Helper()
	reg, err := rotate.NewRegistry(c)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := sqlsecret.PoolSpec(c, id, func(db *sql.DB) { configurePool(db, 100*time.Millisecond) }, opts()...)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := rotate.Register(reg, "orders-db", id, spec, rotate.WithDrain(200*time.Millisecond),
		rotate.WithBackoff(50*time.Millisecond, 200*time.Millisecond), rotate.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return reg, pool
}

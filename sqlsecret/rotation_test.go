package sqlsecret_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/rotate"
	"github.com/secretcache/secretcache/sqlsecret"
)

const (
	rotations    = 20
	loadQPS      = 250
	poolLifetime = 150 * time.Millisecond
)

// TestRotationUnderLoad is the proof: a steady load through pools whose
// connections are recycled every 150 ms, while the secret is rotated by the
// four AWS steps against the real database, 20 times with a single user and
// 20 times alternating two users. Through the Connector no query fails; the
// same load through a pool that read the secret once is measured alongside.
func TestRotationUnderLoad(t *testing.T) {
	e := newEnv(t, secretcache.WithTTL(2*time.Second))
	const single, alternating = "test/database/single", "test/database/alternating"
	e.addUser(t, single, "app_user", randomPassword())
	e.addUser(t, alternating, "alt_user", randomPassword())
	e.addUser(t, "", "alt_user_clone", randomPassword())
	rot := &rotator{pg: e.pg, client: e.sm.Client(""), alternating: map[string]bool{alternating: true}, pause: 100 * time.Millisecond}
	e.sm.SetRotationFunc(rot.fn)

	var report strings.Builder
	for _, id := range []string{single, alternating} {
		ours, err := sqlsecret.New(e.cache, id, sqlsecret.WithParam("sslmode", "disable"), sqlsecret.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		oursDB := sql.OpenDB(ours)
		configurePool(oursDB, poolLifetime)
		naive := naiveDB(t, e.cache, id)
		configurePool(naive, poolLifetime)

		// A rotate.Rotating pool (PoolSpec) under a lighter load alongside.
		spec, err := sqlsecret.PoolSpec(e.cache, id, func(db *sql.DB) { configurePool(db, poolLifetime) }, opts()...)
		if err != nil {
			t.Fatal(err)
		}
		rp, err := rotate.New(e.cache, id, spec, rotate.WithDrain(300*time.Millisecond),
			rotate.WithPollInterval(50*time.Millisecond), rotate.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		if err := rp.Start(context.Background()); err != nil {
			t.Fatal(err)
		}

		lr := startLoad("rotating pool", rp.Get, 100, 4)
		lo := startLoad("ours", func() *sql.DB { return oursDB }, loadQPS, 8)
		ln := startLoad("naive", func() *sql.DB { return naive }, loadQPS, 8)
		start := time.Now()
		for i := range rotations {
			if _, err := e.sm.Rotate(context.Background(), "", id); err != nil {
				t.Fatalf("rotation %d of %s: %v", i, id, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		took := time.Since(start)
		time.Sleep(2 * poolLifetime) // every connection has been replaced since the last rotation
		lo.halt()
		ln.halt()
		lr.halt()
		_ = rp.Close()
		_ = oursDB.Close()
		_ = naive.Close()

		st := ours.Stats()
		t.Logf("%s: %d rotations in %.1fs", id, rotations, took.Seconds())
		t.Logf("  %v", lo)
		t.Logf("  %v", ln)
		t.Logf("  %v (%d pool rotations)", lr, rp.Health().Rotations)
		t.Logf("  connector: %+v", st)
		report.WriteString(strings.Join([]string{id, lo.String(), ln.String(), lr.String()}, "\n  ") + "\n")

		if lo.failed.Load() != 0 {
			t.Errorf("%s: %d of our queries failed: %v", id, lo.failed.Load(), lo.errs)
		}
		if lr.failed.Load() != 0 {
			t.Errorf("%s: %d queries of the rotating pool failed: %v", id, lr.failed.Load(), lr.errs)
		}
		if lo.qps() < 200 {
			t.Errorf("%s: load was %.0f queries/s, want at least 200", id, lo.qps())
		}
		if ln.failed.Load() == 0 {
			t.Errorf("%s: the naive pool lost no query: the rotations did not reach the database", id)
		}
		if st.AuthFailures == 0 || st.Connects < 2*rotations {
			t.Errorf("%s: the pool did not reconnect across rotations: %+v", id, st)
		}
		if st.Failures != 0 {
			t.Errorf("%s: %d failed connects", id, st.Failures)
		}
	}
	if p := os.Getenv("SQLSECRET_REPORT"); p != "" {
		_ = os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

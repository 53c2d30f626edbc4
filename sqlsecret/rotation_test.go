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

// rotationLoad is one run of the rotation proof.
type rotationLoad struct {
	// gap is the time between one rotation's finishSecret and the next one's
	// createSecret.
	gap time.Duration
	// pauses are how long testSecret waits (the database is ahead of
	// AWSCURRENT meanwhile), one rotation after the other, cycling.
	pauses []time.Duration
	// rotations is the number of rotations of each secret.
	rotations int
	// report, if not empty, names the environment variable of a file the
	// figures are written to.
	report string
}

// TestRotationUnderLoad is the proof: a steady load through pools whose
// connections are recycled every 150 ms, while the secret is rotated by the
// four AWS steps against the real database, 20 times with a single user and
// 20 times alternating two users. Through the Connector no query fails; the
// same load through a pool that read the secret once is measured alongside.
func TestRotationUnderLoad(t *testing.T) {
	rotationLoad{rotations: rotations, gap: 200 * time.Millisecond, pauses: []time.Duration{100 * time.Millisecond},
		report: "SQLSECRET_REPORT"}.run(t)
}

// TestRotationBackToBack is the same proof with rotations started back to
// back: the next createSecret runs as soon as finishSecret returned, and
// testSecret waits 0, 30 or 100 ms in turn, so a rotation takes some 30 to
// 200 ms, about the time a connection takes to find out its credentials are
// refused, read the secret again and log in once or twice more. What a
// connection read of AWSCURRENT and AWSPENDING is then often a step behind
// the database by the time it logs in with it. 60 rotations of each kind
// (such a chase happens in fewer than one rotation in ten).
func TestRotationBackToBack(t *testing.T) {
	rotationLoad{rotations: 60, pauses: []time.Duration{0, 30 * time.Millisecond, 100 * time.Millisecond},
		report: "SQLSECRET_REPORT_BACK_TO_BACK"}.run(t)
}

func (rl rotationLoad) run(t *testing.T) {
	e := newEnv(t, secretcache.WithTTL(2*time.Second))
	const single, alternating = "test/database/single", "test/database/alternating"
	e.addUser(t, single, "app_user", randomPassword())
	e.addUser(t, alternating, "alt_user", randomPassword())
	e.addUser(t, "", "alt_user_clone", randomPassword())
	rot := &rotator{pg: e.pg, client: e.sm.Client(""), alternating: map[string]bool{alternating: true}}
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
		rp := startRotatingPool(t, e.cache, id)
		lr := startLoad("rotating pool", rp.Get, 100, 4)
		lo := startLoad("ours", func() *sql.DB { return oursDB }, loadQPS, 8)
		ln := startLoad("naive", func() *sql.DB { return naive }, loadQPS, 8)
		start := time.Now()
		for i := range rl.rotations {
			rot.pause = rl.pauses[i%len(rl.pauses)] // Rotate runs the steps on this goroutine
			if _, err := e.sm.Rotate(context.Background(), "", id); err != nil {
				t.Fatalf("rotation %d of %s: %v", i, id, err)
			}
			time.Sleep(rl.gap)
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
		t.Logf("%s: %d rotations in %.1fs", id, rl.rotations, took.Seconds())
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
		if st.AuthFailures == 0 || st.Connects < uint64(took/poolLifetime) { // a pool of 4 opens about 4 per lifetime
			t.Errorf("%s: the pool did not reconnect across rotations: %+v", id, st)
		}
		if st.Failures != 0 {
			t.Errorf("%s: %d failed connects", id, st.Failures)
		}
	}
	if p := os.Getenv(rl.report); rl.report != "" && p != "" {
		_ = os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

// startRotatingPool starts a rotate.Rotating PoolSpec pool of the secret id
// that polls the cache often, as run's rotations need.
func startRotatingPool(t *testing.T, c *secretcache.Cache, id string) *rotate.Rotating[*sql.DB] {
	t.Helper()
	spec, err := sqlsecret.PoolSpec(c, id, func(db *sql.DB) { configurePool(db, poolLifetime) }, opts()...)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := rotate.New(c, id, spec, rotate.WithDrain(300*time.Millisecond),
		rotate.WithPollInterval(50*time.Millisecond), rotate.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rp
}

package sqlsecret_test

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/sqlsecret"
)

// scripted is a single-user PostgreSQL secret that a test rotates step by
// step (createSecret, setSecret, finishSecret), at chosen moments of a
// Connect: just before the Connector logs in with given credentials. Step
// n is the rotation to version n; version 0 is the secret as created.
type scripted struct {
	t        *testing.T
	e        *env
	id, user string

	mu        sync.Mutex
	versions  []string
	passwords []string
	before    map[string]func() // password -> steps to run before the first login with it
	reads     map[string]func() // stage -> steps to run after the next read of it
}

func newScripted(t *testing.T, e *env, id, user string) *scripted {
	pw := randomPassword()
	e.addUser(t, id, user, pw)
	si, _ := e.sm.Secret("", id)
	return &scripted{t: t, e: e, id: id, user: user, versions: []string{si.Stage("AWSCURRENT")},
		passwords: []string{pw}, before: map[string]func(){}, reads: map[string]func(){}}
}

// create is createSecret: a new version with AWSPENDING; it returns n.
func (s *scripted) create() int {
	s.t.Helper()
	s.mu.Lock()
	n := len(s.versions)
	s.mu.Unlock()
	v := s.e.put(s.t, s.id, s.user, s.password(n), "AWSPENDING")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions = append(s.versions, v)
	return n
}

// set is setSecret of version n: the database gets its password.
func (s *scripted) set(n int) {
	s.t.Helper()
	if err := s.e.pg.SetPassword(context.Background(), s.user, s.password(n)); err != nil {
		s.t.Fatal(err)
	}
}

// finish is finishSecret of version n: AWSCURRENT moves to it, and
// AWSPENDING leaves it as Secrets Manager does when a rotation ends.
func (s *scripted) finish(n int) {
	s.t.Helper()
	cur, _ := s.e.sm.Secret("", s.id)
	v := s.version(n)
	if err := s.e.sm.UpdateStage("", s.id, "AWSCURRENT", v, cur.Stage("AWSCURRENT")); err != nil {
		s.t.Fatal(err)
	}
	if err := s.e.sm.UpdateStage("", s.id, "AWSPENDING", "", v); err != nil {
		s.t.Fatal(err)
	}
}

// rotate runs a whole rotation and returns the new version's number.
func (s *scripted) rotate() int {
	n := s.create()
	s.set(n)
	s.finish(n)
	return n
}

func (s *scripted) version(n int) string { s.mu.Lock(); defer s.mu.Unlock(); return s.versions[n] }

// password returns version n's password, chosen ahead for a version not
// created yet.
func (s *scripted) password(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.passwords) <= n {
		s.passwords = append(s.passwords, randomPassword())
	}
	return s.passwords[n]
}

// on runs steps just before the first login with version n's password
// (n may be a version to come).
func (s *scripted) on(n int, steps func()) {
	pw := s.password(n)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before[pw] = steps
}

// afterRead runs steps as the next read of stage from Secrets Manager
// returns, before the Connector sees its answer (see readHooks).
func (s *scripted) afterRead(stage string, steps func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[stage] = steps
}

// readHooks is a cache reading the fake Secrets Manager through awssm and
// the SDK that runs the afterRead steps of the scripted secrets.
type readHooks struct {
	mu      sync.Mutex
	secrets map[string]*scripted
}

func newReadHooks(t *testing.T, e *env) (*readHooks, *secretcache.Cache) {
	src, err := awssm.New(e.sm.AWSConfig(""), awssm.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	h := &readHooks{secrets: map[string]*scripted{}}
	c, err := secretcache.New(secretcache.SourceFunc(func(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		sec, err := src.Fetch(ctx, ref)
		h.mu.Lock()
		s := h.secrets[ref.ID]
		h.mu.Unlock()
		if s != nil {
			stage := cmp.Or(ref.VersionStage, "AWSCURRENT")
			s.mu.Lock()
			steps := s.reads[stage]
			delete(s.reads, stage)
			s.mu.Unlock()
			if steps != nil {
				steps()
			}
		}
		return sec, err
	}), secretcache.WithTTL(time.Hour), secretcache.WithLogger(quiet())) // the cached AWSCURRENT stays as old as a test makes it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return h, c
}

func (h *readHooks) add(s *scripted) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets[s.id] = s
}

// hook is the Connector's WithConfig function.
func (s *scripted) hook(cfg *pgx.ConnConfig) error {
	s.mu.Lock()
	steps := s.before[cfg.Password]
	delete(s.before, cfg.Password)
	s.mu.Unlock()
	if steps != nil {
		steps()
	}
	return nil
}

// tried renders an error's attempts by version number.
func (s *scripted) tried(err error) string {
	var se *sqlsecret.Error
	if !errors.As(err, &se) {
		return ""
	}
	var b strings.Builder
	for _, a := range se.Tried {
		for n, v := range s.versions {
			if v == a.VersionID {
				fmt.Fprintf(&b, " %s:v%d", a.Stage, n)
			}
		}
	}
	return b.String()
}

// TestConnectorRacingRotations plays, step by step, the interleavings of the
// four rotation steps with a Connect's reads and logins that rotations
// started back to back produce: the Connector read AWSCURRENT or
// AWSPENDING, and by the time it logs in with them a rotation step has
// moved the database on. Whenever some version in Secrets Manager logs in
// by the end, the Connect succeeds.
// racingTest is the cache and database that TestConnectorRacingRotations'
// subtests share; each has a secret and a database user of its own.
type racingTest struct {
	e     *env
	hooks *readHooks
	cache *secretcache.Cache
	n     int
}

// start returns a secret whose version 0 connected once (cached, last
// good), and a Connector that runs the secret's script.
func (k *racingTest) start(t *testing.T, more ...sqlsecret.Option) (*scripted, *sqlsecret.Connector) {
	k.n++
	s := newScripted(t, k.e, fmt.Sprintf("test/database/race-%d", k.n), fmt.Sprintf("race_%d", k.n))
	k.hooks.add(s)
	conn, err := sqlsecret.New(k.cache, s.id, opts(append(more, sqlsecret.WithConfig(s.hook))...)...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := conn.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	return s, conn
}

// connect connects once and checks that version want connected, after
// the attempts tried lists (unchecked when empty).
func (k *racingTest) connect(t *testing.T, s *scripted, conn *sqlsecret.Connector, want int, tried string) {
	t.Helper()
	before := conn.Stats()
	c, err := conn.Connect(context.Background())
	if err != nil {
		t.Fatalf("%v\ntried%s", err, s.tried(err))
	}
	_ = c.Close()
	st := conn.Stats()
	if st.LastGoodVersion != s.version(want) {
		t.Fatalf("connected with %q, want v%d (%q)", st.LastGoodVersion, want, s.version(want))
	}
	if got := st.Attempts - before.Attempts; tried != "" && int(got) != strings.Count(tried, ":")+1 {
		t.Errorf("%d attempts, want%s then v%d", got, tried, want)
	}
}

// TestConnectorRacingRotations plays, step by step, the interleavings of the
// four rotation steps with a Connect's reads and logins that rotations
// started back to back produce: the Connector read AWSCURRENT or
// AWSPENDING, and by the time it logs in with them a rotation step has
// moved the database on. Whenever some version in Secrets Manager logs in
// by the end, the Connect succeeds.
func TestConnectorRacingRotations(t *testing.T) {
	k := &racingTest{e: newEnv(t)}
	k.hooks, k.cache = newReadHooks(t, k.e)
	t.Run("AWSPENDING read before setSecret set it", k.pendingBeforeSet)
	t.Run("AWSPENDING rotated away during the login", k.pendingRotatedAway)
	t.Run("the first round read a moment too early", k.firstRoundTooEarly)
	t.Run("finishSecret between the second round's reads", k.finishBetweenReads)
	t.Run("new versions before retries", k.newBeforeRetries)
	t.Run("an AWSPENDING that connected before it was refused is not retried", k.connectedPendingNotRetried)
	t.Run("the last good credentials were rotated away", k.lastGoodRotatedAway)
	t.Run("nothing logs in: bounded, and the error names every attempt", k.nothingLogsIn)
}

func (k *racingTest) pendingBeforeSet(t *testing.T) {
	// The cached AWSCURRENT is two versions old; the AWSCURRENT read
	// afresh is rotated away while the Connector logs in; the
	// AWSPENDING read next is not in the database yet; and by the time
	// the second round reads AWSCURRENT again, setSecret has run.
	s, conn := k.start(t)
	s.rotate() // v1
	v2 := s.create()
	s.set(v2)                                    // testSecret window: AWSCURRENT v1, AWSPENDING v2, the database v2
	s.on(1, func() { s.finish(v2); s.create() }) // v3: the next rotation begins at once
	s.on(2, func() { s.set(3) })
	// v0 (cached), v1 (AWSCURRENT), v3 (AWSPENDING, not set yet), then,
	// round 2: v2 (AWSCURRENT, rotated away by setSecret), v3 again.
	k.connect(t, s, conn, 3, " AWSCURRENT:v0 AWSCURRENT:v1 AWSPENDING:v3 AWSCURRENT:v2")
	if st := conn.Stats(); st.SecondRounds != 1 || st.PendingUsed != 1 || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
}

func (k *racingTest) pendingRotatedAway(t *testing.T) {
	// The cached AWSCURRENT is refused (setSecret ran); AWSCURRENT read
	// afresh is still that version; AWSPENDING is right, but the next
	// rotation completes while the Connector logs in with it. The second
	// round finds the new AWSCURRENT.
	s, conn := k.start(t)
	v1 := s.create()
	s.on(0, func() { s.set(v1) })
	s.on(1, func() { s.finish(v1); v2 := s.create(); s.set(v2); s.finish(v2) })
	k.connect(t, s, conn, 2, " AWSCURRENT:v0 AWSPENDING:v1")
	if st := conn.Stats(); st.SecondRounds != 1 || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
}

func (k *racingTest) firstRoundTooEarly(t *testing.T) {
	// setSecret runs while the Connector logs in with the cached
	// AWSCURRENT; its read of AWSCURRENT returns that same version,
	// and finishSecret runs just after; so AWSPENDING is gone by the
	// next read. With nothing left to try, the second round reads the
	// secret again and finds the new AWSCURRENT.
	s, conn := k.start(t)
	s.on(0, func() { s.set(s.create()) })
	s.afterRead("AWSCURRENT", func() { s.finish(1) })
	k.connect(t, s, conn, 1, " AWSCURRENT:v0")
	if st := conn.Stats(); st.SecondRounds != 1 || st.Refreshes != 4 { // each stage read in each round
		t.Fatalf("%+v", st)
	}
}

func (k *racingTest) finishBetweenReads(t *testing.T) {
	// The second round reads AWSPENDING, then AWSCURRENT; finishSecret
	// runs between the two reads. Read in the other order, the new
	// version would be missed by both.
	s, conn := k.start(t)
	s.on(0, func() { s.set(s.create()) }) // v1 set: the cached v0 is refused
	s.on(1, func() {                      // round 1 logs in with AWSPENDING v1, but
		s.finish(1)
		s.set(s.create())                                 // v2 is set,
		s.afterRead("AWSCURRENT", func() { s.finish(2) }) // and finished just after round 2 reads AWSCURRENT
	})
	k.connect(t, s, conn, 2, " AWSCURRENT:v0 AWSPENDING:v1")
	if st := conn.Stats(); st.SecondRounds != 1 || st.PendingUsed != 1 {
		t.Fatalf("%+v", st)
	}
}

func (k *racingTest) newBeforeRetries(t *testing.T) {
	// Round 2 reads AWSCURRENT = the version refused as AWSPENDING in
	// round 1, since rotated away, and a new AWSPENDING, already set:
	// the new one is tried first, the refused one not again.
	s, conn := k.start(t)
	s.on(0, func() { s.rotate() })                     // v1: the cached v0 is refused
	s.on(1, func() { s.set(s.create()) })              // v2
	s.on(2, func() { s.finish(2); s.set(s.create()) }) // v3 set, not finished
	k.connect(t, s, conn, 3, " AWSCURRENT:v0 AWSCURRENT:v1 AWSPENDING:v2")
	if st := conn.Stats(); st.SecondRounds != 1 || st.PendingUsed != 1 {
		t.Fatalf("%+v", st)
	}
}

func (k *racingTest) connectedPendingNotRetried(t *testing.T) {
	s, conn := k.start(t)
	s.set(s.create())                                           // testSecret window: AWSPENDING v1 is in the database
	k.connect(t, s, conn, 1, " AWSCURRENT:v0")                  // v1 connects: the last good credentials
	time.Sleep(sqlsecret.ReprobeInterval + 50*time.Millisecond) // the refused v0 is probed again first
	// The next rotation runs while the Connector logs in with v1 read
	// as AWSPENDING: v1, which connected before, is rotated away, and
	// trying it again as the last good credentials would only waste a
	// login.
	s.on(1, func() { s.finish(1); s.set(s.create()) })
	k.connect(t, s, conn, 2, " AWSCURRENT:v0 AWSPENDING:v1")
}

func (k *racingTest) lastGoodRotatedAway(t *testing.T) {
	cache, ctx := k.cache, context.Background()
	// The Connector connects with the last good credentials first (the
	// cached AWSCURRENT was refused a moment ago), and those are rotated
	// away too: it reads the secret afresh.
	s, conn := k.start(t)
	s.e.put(t, s.id, s.user, "not-the-password-"+randomPassword()) // a wrong AWSCURRENT
	if _, err := cache.Refresh(ctx, s.id); err != nil {
		t.Fatal(err)
	}
	k.connect(t, s, conn, 0, "") // refused, then the last good v0
	if st := conn.Stats(); !st.CurrentRefused || st.LastGoodUsed != 1 {
		t.Fatalf("%+v", st)
	}
	// A right version follows, and the database gets it as the
	// Connector logs in with the last good credentials (the wrong
	// AWSCURRENT is not retried within ReprobeInterval).
	v := s.create()
	s.on(0, func() { s.set(v); s.finish(v) })
	k.connect(t, s, conn, v, " last-good:v0")
	if st := conn.Stats(); st.CurrentRefused || st.Failures != 0 {
		t.Fatalf("%+v", st)
	}
}

func (k *racingTest) nothingLogsIn(t *testing.T) {
	e, ctx := k.e, context.Background()
	s, conn := k.start(t)
	v1 := s.create()
	s.set(v1)
	s.finish(v1)
	s.create() // AWSPENDING v2, never set
	if err := e.pg.SetPassword(ctx, s.user, "nobody-knows-"+randomPassword()); err != nil {
		t.Fatal(err)
	}
	calls := e.sm.Calls("", "GetSecretValue")
	start := time.Now()
	_, err := conn.Connect(ctx)
	var se *sqlsecret.Error
	if !errors.Is(err, sqlsecret.ErrAuth) || !errors.As(err, &se) {
		t.Fatal(err)
	}
	// v0 (cached), v1 (AWSCURRENT), v2 (AWSPENDING); round 2: v2 again.
	if got, want := s.tried(err), " AWSCURRENT:v0 AWSCURRENT:v1 AWSPENDING:v2 AWSPENDING:v2"; got != want {
		t.Fatalf("tried%s, want%s", got, want)
	}
	if se.Attempts != 4 || len(se.Tried) != 4 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d attempts in %v", se.Attempts, time.Since(start))
	}
	if got := e.sm.Calls("", "GetSecretValue") - calls; got != 4 { // each stage once per round
		t.Fatalf("%d GetSecretValue calls", got)
	}
	for _, v := range []string{s.version(0), s.version(1), s.version(2), "AWSCURRENT", "AWSPENDING", "attempt(s)"} {
		if !strings.Contains(err.Error(), v) {
			t.Fatalf("%q not in %v", v, err)
		}
	}
	noPassword(t, err, s.password(0), s.password(1), s.password(2))
	if st := conn.Stats(); st.SecondRounds != 1 || st.Failures != 1 {
		t.Fatalf("%+v", st)
	}
}

// TestConnectorBurstOfRefusals: connections refused at the same moment
// share their reads of the secret, so a burst costs a few GetSecretValue
// calls, not a few per connection.
func TestConnectorBurstOfRefusals(t *testing.T) {
	e := newEnv(t, secretcache.WithTTL(time.Hour))
	ctx := context.Background()
	const burst = 16
	connectAll := func(conn *sqlsecret.Connector) (calls int, errs []error) {
		before := e.sm.Calls("", "GetSecretValue")
		errs = make([]error, burst)
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() {
				c, err := conn.Connect(ctx)
				if err == nil {
					_ = c.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		return e.sm.Calls("", "GetSecretValue") - before, errs
	}
	start := func(id, user string) (*scripted, *sqlsecret.Connector) {
		s := newScripted(t, e, id, user)
		conn, err := sqlsecret.New(e.cache, s.id, opts()...)
		if err != nil {
			t.Fatal(err)
		}
		c, err := conn.Connect(ctx) // v0 cached and last good
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		return s, conn
	}

	t.Run("after a rotation", func(t *testing.T) {
		s, conn := start("test/database/burst", "burst_user")
		s.rotate()
		calls, errs := connectAll(conn) // all refused with the cached v0
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st := conn.Stats()
		t.Logf("%d connections refused together: %d GetSecretValue calls; %+v", burst, calls, st)
		if calls > 3 || st.SecondRounds != 0 { // 1 when every refusal comes before the read begins
			t.Fatalf("%d GetSecretValue calls for a burst of %d refused connections", calls, burst)
		}
	})

	t.Run("nothing logs in", func(t *testing.T) {
		s, conn := start("test/database/burst-none", "burst_none")
		s.rotate()
		s.create() // AWSPENDING v2, never set
		if err := e.pg.SetPassword(ctx, s.user, "nobody-knows-"+randomPassword()); err != nil {
			t.Fatal(err)
		}
		calls, errs := connectAll(conn)
		for _, err := range errs {
			var se *sqlsecret.Error
			if !errors.As(err, &se) || !errors.Is(err, sqlsecret.ErrAuth) || len(se.Tried) != se.Attempts || se.Attempts != 4 {
				t.Fatal(err)
			}
		}
		st := conn.Stats()
		t.Logf("%d connections refused together: %d GetSecretValue calls; %+v", burst, calls, st)
		if st.SecondRounds != burst {
			t.Fatalf("%d second rounds", st.SecondRounds)
		}
		// The first round's two reads are shared by the whole burst; the
		// second round's begin after each connection's last refusal, shared
		// by the connections that get there together. Unshared, the burst
		// would make 4 per connection.
		if calls > 2*burst+4 {
			t.Fatalf("%d GetSecretValue calls for a burst of %d refused connections", calls, burst)
		}
	})
}

// TestPoolSpecAfterItsVersionIsRefused: once the database refused a
// PoolSpec pool's own version (a single-user rotation moved on before the
// pool was replaced), the pool's next connections start with the
// credentials that worked instead, for ReprobeInterval, rather than paying
// a refused login each.
func TestPoolSpecAfterItsVersionIsRefused(t *testing.T) {
	e := newEnv(t, secretcache.WithTTL(time.Hour))
	ctx := context.Background()
	s := newScripted(t, e, "test/database/pinned", "pinned_user")
	var mu sync.Mutex
	logins := map[string]int{} // password -> logins
	spec, err := sqlsecret.PoolSpec(e.cache, s.id, func(db *sql.DB) { db.SetMaxIdleConns(0) }, opts(sqlsecret.WithConfig(func(cfg *pgx.ConnConfig) error {
		mu.Lock()
		logins[cfg.Password]++
		mu.Unlock()
		return nil
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := e.cache.Get(ctx, s.id)
	if err != nil {
		t.Fatal(err)
	}
	db, err := spec.Build(ctx, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer spec.Close(db)
	query := func() {
		t.Helper()
		var one int
		if err := db.QueryRowContext(ctx, "select 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	query() // v0: 1 login
	s.rotate()
	for range 5 {
		query() // each a new connection
	}
	mu.Lock()
	got0, got1 := logins[s.password(0)], logins[s.password(1)]
	mu.Unlock()
	// v0 once, refused once, then v1 (read afresh) and the last good v1.
	if got0 != 2 || got1 != 5 {
		t.Fatalf("logins: v0 %d, v1 %d; want 2 and 5", got0, got1)
	}
	if err := spec.Validate(ctx, db); !errors.Is(err, sqlsecret.ErrAuth) { // validation still logs in with exactly v0
		t.Fatal(err)
	}
}

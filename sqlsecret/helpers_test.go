package sqlsecret_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/creds"
	"github.com/secretcache/secretcache/internal/mariadbtest"
	"github.com/secretcache/secretcache/internal/pgtest"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/sqlsecret"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// env is a real database server, the fake Secrets Manager, and a cache
// reading it through awssm and the real SDK.
type env struct {
	pg    *pgtest.Server // when db is PostgreSQL
	db    database
	sm    *smtest.Server
	cache *secretcache.Cache
}

// newEnv is an env on PostgreSQL.
func newEnv(t testing.TB, cacheOpts ...secretcache.Option) *env {
	t.Helper()
	pg := pgtest.Start(t, pgtest.WithMaxConnections(200), pgtest.WithMD5())
	e := newEnvOn(t, pgDatabase{pg}, cacheOpts...)
	e.pg = pg
	return e
}

// newEnvOn is an env on db.
func newEnvOn(t testing.TB, db database, cacheOpts ...secretcache.Option) *env {
	t.Helper()
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	src, err := awssm.New(sm.AWSConfig(""), awssm.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(src, append([]secretcache.Option{secretcache.WithLogger(quiet())}, cacheOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &env{db: db, sm: sm, cache: c}
}

func (e *env) dbSecret(user, password string) creds.Database { return e.db.secret(user, password) }

// addUser creates a user and a secret holding its credentials.
func (e *env) addUser(t testing.TB, secretID, user, password string) {
	t.Helper()
	e.db.createUser(t, user, password)
	if secretID == "" {
		return
	}
	raw, _ := e.dbSecret(user, password).SecretJSON()
	if _, err := e.sm.CreateSecret("", secretID, string(raw)); err != nil {
		t.Fatal(err)
	}
}

// database is a real server the tests rotate passwords on, as the AWS
// rotation functions of its engine do.
type database interface {
	// secret returns the RDS secret of user.
	secret(user, password string) creds.Database
	createUser(tb testing.TB, user, password string)
	// setPassword changes user's password as the master user.
	setPassword(ctx context.Context, user, password string) error
	// changeOwnPassword logs in with cur and changes its own password.
	changeOwnPassword(ctx context.Context, cur creds.Database, password string) error
	// check logs in with d and runs a query.
	check(ctx context.Context, d creds.Database) error
	// fixed returns a pool that connects with d for ever.
	fixed(tb testing.TB, d creds.Database) *sql.DB
}

type pgDatabase struct{ *pgtest.Server }

func (p pgDatabase) secret(user, password string) creds.Database {
	return creds.Database{Engine: "postgres", Host: p.Host, Port: creds.Port(p.Port), Username: user, Password: password, DBName: "postgres"}
}

func (p pgDatabase) createUser(tb testing.TB, user, password string) {
	p.CreateRole(tb, user, password)
}

func (p pgDatabase) setPassword(ctx context.Context, user, password string) error {
	return p.SetPassword(ctx, user, password)
}

func (p pgDatabase) changeOwnPassword(ctx context.Context, cur creds.Database, password string) error {
	conn, err := login(ctx, cur)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ALTER ROLE CURRENT_USER PASSWORD "+pgtest.QuoteLiteral(password))
	return err
}

func (p pgDatabase) check(ctx context.Context, d creds.Database) error {
	conn, err := login(ctx, d)
	if err != nil {
		return err
	}
	var one int
	err = conn.QueryRow(ctx, "select 1").Scan(&one)
	_ = conn.Close(ctx)
	return err
}

func (p pgDatabase) fixed(tb testing.TB, d creds.Database) *sql.DB {
	cs, err := d.ConnString()
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(cs + " sslmode=disable")
	if err != nil {
		tb.Fatal(err)
	}
	return stdlib.OpenDB(*cfg)
}

type mariaDatabase struct{ *mariadbtest.Server }

func (m mariaDatabase) secret(user, password string) creds.Database {
	return creds.Database{Engine: "mariadb", Host: m.Host, Port: creds.Port(m.Port), Username: user, Password: password, DBName: mariadbtest.Database}
}

func (m mariaDatabase) createUser(tb testing.TB, user, password string) {
	m.CreateUser(tb, user, password)
}

func (m mariaDatabase) setPassword(ctx context.Context, user, password string) error {
	return m.SetPassword(ctx, user, password)
}

func (m mariaDatabase) open(d creds.Database) *sql.DB {
	cfg := m.Config(d.Username, d.Password)
	cfg.Addr = d.Host + ":" + strconv.Itoa(int(d.Port))
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		panic(err) // a fixed, valid configuration
	}
	return sql.OpenDB(conn)
}

func (m mariaDatabase) changeOwnPassword(ctx context.Context, cur creds.Database, password string) error {
	db := m.open(cur)
	defer db.Close()
	_, err := db.ExecContext(ctx, "SET PASSWORD = PASSWORD("+mariadbtest.QuoteString(password)+")")
	return err
}

func (m mariaDatabase) check(ctx context.Context, d creds.Database) error {
	db := m.open(d)
	defer db.Close()
	var one int
	return db.QueryRowContext(ctx, "select 1").Scan(&one)
}

func (m mariaDatabase) fixed(_ testing.TB, d creds.Database) *sql.DB { return m.open(d) }

func randomPassword() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 24)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// rotator is the rotation Lambda of the tests: the four steps of the AWS
// rotation templates, single user or alternating users, against the real
// database, through the SDK.
type rotator struct {
	db          database
	client      *secretsmanager.Client
	alternating map[string]bool // by secret name
	// pause is how long testSecret waits: the window in which the database
	// has the new password and AWSCURRENT still names the old one.
	pause time.Duration
	steps atomic.Int64
}

func (r *rotator) get(ctx context.Context, id, stage, version string) (creds.Database, string, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := r.client.GetSecretValue(ctx, in)
	if err != nil {
		return creds.Database{}, "", err
	}
	d, err := creds.ParseDatabase(aws.ToString(out.SecretString))
	return d, aws.ToString(out.VersionId), err
}

func login(ctx context.Context, d creds.Database) (*pgx.Conn, error) {
	cs, err := d.ConnString()
	if err != nil {
		return nil, err
	}
	return pgx.Connect(ctx, cs+" sslmode=disable")
}

func (r *rotator) name(arn string) string {
	for n := range r.alternating {
		if strings.Contains(arn, ":secret:"+n+"-") || arn == n {
			return n
		}
	}
	return arn
}

func (r *rotator) fn(ctx context.Context, st smtest.RotationStep) error {
	r.steps.Add(1)
	switch st.Step {
	case "createSecret":
		return r.createSecret(ctx, st)
	case "setSecret":
		return r.setSecret(ctx, st)
	case "testSecret":
		return r.testSecret(ctx, st)
	case "finishSecret":
		return r.finishSecret(ctx, st)
	}
	return fmt.Errorf("unknown step %q", st.Step)
}

// createSecret is the createSecret step of the rotation function.
func (r *rotator) createSecret(ctx context.Context, st smtest.RotationStep) error {
	cur, _, err := r.get(ctx, st.SecretID, "AWSCURRENT", "")
	if err != nil {
		return err
	}
	if _, _, err := r.get(ctx, st.SecretID, "AWSPENDING", st.Token); err == nil {
		return nil // already created: a retried step
	}
	next := cur
	next.Password = randomPassword()
	if r.alternating[r.name(st.SecretID)] {
		if base, ok := strings.CutSuffix(cur.Username, "_clone"); ok {
			next.Username = base
		} else {
			next.Username = cur.Username + "_clone"
		}
	}
	raw, _ := next.SecretJSON()
	_, err = r.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(st.SecretID),
		ClientRequestToken: aws.String(st.Token), SecretString: aws.String(string(raw)), VersionStages: []string{"AWSPENDING"}})
	return err
}

// setSecret is the setSecret step of the rotation function.
func (r *rotator) setSecret(ctx context.Context, st smtest.RotationStep) error {
	pending, _, err := r.get(ctx, st.SecretID, "AWSPENDING", st.Token)
	if err != nil {
		return err
	}
	if r.db.check(ctx, pending) == nil { // already set
		return nil
	}
	if r.alternating[r.name(st.SecretID)] {
		// The master user changes the other user's password.
		return r.db.setPassword(ctx, pending.Username, pending.Password)
	}
	// Single user: the user changes its own password with the current one.
	cur, _, err := r.get(ctx, st.SecretID, "AWSCURRENT", "")
	if err != nil {
		return err
	}
	if err := r.db.changeOwnPassword(ctx, cur, pending.Password); err != nil {
		return fmt.Errorf("setSecret: with AWSCURRENT: %w", err)
	}
	return nil
}

// testSecret is the testSecret step of the rotation function.
func (r *rotator) testSecret(ctx context.Context, st smtest.RotationStep) error {
	pending, _, err := r.get(ctx, st.SecretID, "AWSPENDING", st.Token)
	if err != nil {
		return err
	}
	if err := r.db.check(ctx, pending); err != nil {
		return fmt.Errorf("testSecret: %w", err)
	}
	time.Sleep(r.pause)
	return nil
}

// finishSecret is the finishSecret step of the rotation function.
func (r *rotator) finishSecret(ctx context.Context, st smtest.RotationStep) error {
	desc, err := r.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(st.SecretID)})
	if err != nil {
		return err
	}
	current := ""
	for v, stages := range desc.VersionIdsToStages {
		for _, s := range stages {
			if s == "AWSCURRENT" {
				current = v
			}
		}
	}
	if current == st.Token {
		return nil
	}
	_, err = r.client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(st.SecretID),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(st.Token), RemoveFromVersionId: aws.String(current)})
	return err
}

// naiveDB is what a program without this package does: read the secret
// once at start-up and connect with it for ever.
func (e *env) naiveDB(t testing.TB, id string) *sql.DB {
	t.Helper()
	d, err := secretcache.GetJSON[creds.Database](context.Background(), e.cache, id)
	if err != nil {
		t.Fatal(err)
	}
	return e.db.fixed(t, d)
}

func configurePool(db *sql.DB, lifetime time.Duration) {
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxLifetime(lifetime)
}

// load runs a steady rate of queries against a pool until stopped.
type load struct {
	name   string
	ok     atomic.Int64
	failed atomic.Int64
	start  time.Time
	end    time.Time
	mu     sync.Mutex
	errs   map[string]int
	stop   chan struct{}
	wg     sync.WaitGroup
}

// startLoad sends qps queries per second from workers goroutines; get
// returns the pool to use for each query.
func startLoad(name string, get func() *sql.DB, qps, workers int) *load {
	return startQueries(name, func(ctx context.Context) error {
		var n int
		return get().QueryRowContext(ctx, "select 1").Scan(&n)
	}, qps, workers)
}

// startQueries sends qps queries (q) per second from workers goroutines.
func startQueries(name string, q func(context.Context) error, qps, workers int) *load {
	l := &load{name: name, errs: map[string]int{}, stop: make(chan struct{}), start: time.Now()}
	period := time.Duration(workers) * time.Second / time.Duration(qps)
	for w := range workers {
		l.wg.Go(func() {
			next := l.start.Add(time.Duration(w) * period / time.Duration(workers))
			for {
				if d := time.Until(next); d > 0 {
					select {
					case <-l.stop:
						return
					case <-time.After(d):
					}
				} else {
					select {
					case <-l.stop:
						return
					default:
					}
				}
				next = next.Add(period)
				if behind := time.Since(next); behind > time.Second { // catch up at most 1 s
					next = time.Now()
				}
				l.query(q)
			}
		})
	}
	return l
}

func (l *load) query(q func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q(ctx); err != nil {
		l.failed.Add(1)
		msg := err.Error()
		var se *sqlsecret.Error
		var sq interface{ SQLState() string }
		var me *mysql.MySQLError
		switch {
		case errors.As(err, &se):
			msg = fmt.Sprintf("code %s after %d attempts, tried %v", se.Code, se.Attempts, se.Tried)
		case errors.As(err, &sq):
			msg = "SQLSTATE " + sq.SQLState()
		case errors.As(err, &me):
			msg = "MySQL error " + strconv.Itoa(int(me.Number))
		}
		l.mu.Lock()
		l.errs[msg]++
		l.mu.Unlock()
		return
	}
	l.ok.Add(1)
}

func (l *load) halt() {
	close(l.stop)
	l.wg.Wait()
	l.end = time.Now()
}

func (l *load) total() int64 { return l.ok.Load() + l.failed.Load() }

func (l *load) qps() float64 { return float64(l.total()) / l.end.Sub(l.start).Seconds() }

func (l *load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%s: %d queries in %.1fs (%.0f/s), %d failed %v", l.name, l.total(), l.end.Sub(l.start).Seconds(), l.qps(), l.failed.Load(), l.errs)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

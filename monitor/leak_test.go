package monitor_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/monitor"
	"github.com/secretcache/secretcache/smtest"
)

func randomValue(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "V" + hex.EncodeToString(b)
}

// TestNoValueLeaks runs a workload over real HTTP (smtest + awssm) whose
// secret values are known random strings, with every output of this package
// turned on and every logger captured, and asserts that no value appears in
// any log record, metric, report, health or stats output, error message or
// panic text.
func TestNoValueLeaks(t *testing.T) {
	var logs syncBuffer
	logger := captureLogger(&logs)
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)

	var values []string
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("prod/leak/secret-%02d", i)
		v := randomValue(t)
		val := v
		if i%3 == 0 { // a JSON secret: the password field is a value too
			val = fmt.Sprintf(`{"username":"app","password":%q}`, v)
		}
		values = append(values, v, val)
		if _, err := srv.CreateSecret("us-east-1", id, val); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	binVal := []byte(randomValue(t))
	values = append(values, string(binVal), base64.StdEncoding.EncodeToString(binVal))
	if _, err := srv.CreateBinarySecret("us-east-1", "prod/leak/binary", binVal); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, "prod/leak/binary")

	m := monitor.New(nil, monitor.WithPerSecretLabels(true), monitor.WithLogger(logger), monitor.WithWindow(time.Minute, 64))
	src, err := awssm.New(srv.AWSConfig("us-east-1"), awssm.WithCallObserver(m.ObserveCall),
		awssm.WithMaxAttempts(1), awssm.WithBreaker(3, 100*time.Millisecond), awssm.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretcache.New(src, secretcache.WithLogger(logger), secretcache.WithTTL(300*time.Millisecond),
		secretcache.WithBatchWindow(time.Millisecond), secretcache.WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		secretcache.WithReadHook(monitor.AuditHook(logger, monitor.WithAuditLevel(slog.LevelDebug))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	m.SetCache(c)
	m.RegisterComponent("rotating-db", func(context.Context) monitor.ComponentHealth {
		return monitor.ComponentHealth{Status: "healthy", Message: "pool ok", Details: map[string]any{"open": 2}}
	})

	var texts []string // every output to check
	var panics []string
	ctx := monitor.WithAuditAttrs(context.Background(), slog.String("request_id", "leak-test"))
	collect := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	guard := func(fn func()) {
		defer func() {
			if r := recover(); r != nil {
				panics = append(panics, fmt.Sprint(r))
			}
		}()
		fn()
	}
	outputs := func() {
		h := m.Health(ctx)
		b, _ := json.Marshal(h)
		texts = append(texts, string(b), m.Report())
		sb, _ := json.Marshal(m.CacheStats())
		texts = append(texts, string(sb))
		_, body := scrape(t, m.MetricsHandler())
		texts = append(texts, body)
		for _, hd := range []http.Handler{m.HealthHandler(), m.StatsHandler()} {
			_, b, _ := get(hd, http.MethodGet, "/")
			texts = append(texts, b)
		}
	}

	guard(func() {
		collect(c.Warm(ctx, ids...))
		for round := range 3 {
			for _, id := range ids {
				_, err := c.GetString(ctx, id)
				collect(err)
				_, err = c.GetBinary(ctx, id)
				collect(err)
				_, err = c.GetField(ctx, id, "password")
				collect(err)
				_, err = c.GetField(ctx, id, "missing")
				collect(err)
				_, err = secretcache.GetJSON[struct{ Password int }](ctx, c, id)
				collect(err)
				s, err := c.Get(ctx, id)
				collect(err)
				texts = append(texts, fmt.Sprintf("%v %+v %#v %s", s, s, s, s))
			}
			switch round {
			case 0: // new versions: refreshes log version changes
				for i, id := range ids[:4] {
					_, err := srv.PutSecretValue("us-east-1", id, randomValue(t)+fmt.Sprint(i))
					collect(err)
				}
			case 1: // a fault: refreshes fail, reads are served stale, the breaker opens
				srv.SetFault("", "", smtest.Fault{ErrorCode: "InternalServiceError"})
			}
			time.Sleep(350 * time.Millisecond) // entries expire
			outputs()
		}
		srv.ClearFaults()
		_, err := c.GetString(ctx, "prod/leak/absent")
		collect(err)
		_, err = c.GetString(ctx, "bad id\n\x00"+strings.Repeat("z", 5000))
		collect(err)
		_, err = c.Refresh(ctx, ids[0])
		collect(err)
		outputs()
	})
	texts = append(texts, logs.String())
	texts = append(texts, panics...)
	if len(panics) > 0 {
		t.Errorf("panics: %d", len(panics))
	}

	all := strings.Join(texts, "\n")
	if len(all) < 10000 || !strings.Contains(logs.String(), "secret read") || !strings.Contains(all, "prod/leak/secret-00") {
		t.Fatalf("the workload produced too little output to be meaningful (%d bytes)", len(all))
	}
	if !strings.Contains(logs.String(), "background refresh failed") && !strings.Contains(logs.String(), "breaker") {
		t.Logf("note: no failure was logged")
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		if strings.Contains(all, v) {
			i := strings.Index(all, v)
			t.Fatalf("secret value leaked: ...%s...", all[max(0, i-200):i])
		}
	}
}

package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/monitor"
)

// FuzzHostileInput feeds arbitrary operation, region, component and secret
// names through every entry point that takes text: the metrics must still
// gather, labels stay valid and bounded, health and the audit record stay
// valid JSON, and nothing panics.
func FuzzHostileInput(f *testing.F) {
	f.Add("GetSecretValue", "us-east-1", "db", "prod/db")
	f.Add("", "", "", "")
	f.Add("\xff\xfe", "a\nb\x00", "comp\x1b[31m", "id\r\nFAKE=1")
	f.Add("op", string(bytes.Repeat([]byte("é"), 300)), "ç", "\u2028")
	f.Fuzz(func(t *testing.T, op, region, comp, id string) {
		m := monitor.New(nil, monitor.WithLogger(slog.New(slog.DiscardHandler)), monitor.WithRegion(region))
		m.ObserveCall(op, region, time.Millisecond, secretcache.NewError(secretcache.ErrThrottled, id, nil))
		m.RegisterComponent(comp, func(context.Context) monitor.ComponentHealth {
			return monitor.ComponentHealth{Status: comp, Message: id, Details: map[string]any{id: region}}
		})
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(m.Collector())
		fams, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		for _, fam := range fams {
			for _, s := range fam.GetMetric() {
				for _, l := range s.GetLabel() {
					if !utf8.ValidString(l.GetValue()) || len(l.GetValue()) > 128 {
						t.Fatalf("label %s=%q", l.GetName(), l.GetValue())
					}
				}
			}
		}
		h := m.Health(context.Background())
		b, err := json.Marshal(h)
		if err != nil || !json.Valid(b) {
			t.Fatalf("health JSON: %v", err)
		}
		_ = m.Report()
		var buf bytes.Buffer
		hook := monitor.AuditHook(slog.New(slog.NewJSONHandler(&buf, nil)))
		hook(context.Background(), secretcache.ReadEvent{Ref: secretcache.Ref{ID: id, VersionStage: region, VersionID: op},
			Outcome: secretcache.OutcomeError, Err: secretcache.NewError(secretcache.ErrInvalidRequest, id, nil)})
		if lines := bytes.Count(buf.Bytes(), []byte("\n")); lines != 1 || !json.Valid(bytes.TrimSpace(buf.Bytes())) {
			t.Fatalf("audit record: %q", buf.String())
		}
	})
}

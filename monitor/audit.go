package monitor

import (
	"cmp"
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// AuditOption configures AuditHook. An option that returns an error has
// kept its default; AuditHook logs the error and goes on.
type AuditOption func(*auditConfig) error

type auditConfig struct {
	level, problemLevel slog.Level
	every               uint64
	msg                 string
}

// WithAuditLevel sets the level of records for hits and misses (default
// slog.LevelInfo).
func WithAuditLevel(l slog.Level) AuditOption {
	return func(c *auditConfig) error { c.level = l; return nil }
}

// WithAuditProblemLevel sets the level of records for errors, stale reads
// and fallbacks (default slog.LevelWarn).
func WithAuditProblemLevel(l slog.Level) AuditOption {
	return func(c *auditConfig) error { c.problemLevel = l; return nil }
}

// WithAuditSampling logs one in n hits (the first, the n+1th, ...). Misses,
// stale reads, fallbacks and errors are always logged. n <= 1 logs every hit
// (the default).
func WithAuditSampling(n int) AuditOption {
	return func(c *auditConfig) error { c.every = uint64(max(n, 1)); return nil }
}

// WithAuditMessage sets the record message (default "secret read"). An empty
// message keeps the default.
func WithAuditMessage(msg string) AuditOption {
	return func(c *auditConfig) error {
		if msg != "" {
			c.msg = cleanText(msg, 256)
		}
		return nil
	}
}

type auditAttrsKey struct{}

// WithAuditAttrs returns a copy of ctx whose secret reads AuditHook logs with
// attrs added (a request id, the caller's identity). Calls accumulate: attrs
// already in ctx are kept, the new ones follow. A nil ctx is treated as
// context.Background(). The attributes are the caller's: never put a secret
// value in them.
func WithAuditAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(attrs) == 0 {
		return ctx
	}
	old, _ := ctx.Value(auditAttrsKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(old)+len(attrs))
	all = append(append(all, old...), attrs...)
	return context.WithValue(ctx, auditAttrsKey{}, all)
}

// AuditAttrs returns the attributes WithAuditAttrs put in ctx.
func AuditAttrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(auditAttrsKey{}).([]slog.Attr)
	return a
}

// AuditHook returns a read hook (for secretcache.WithReadHook) that writes
// one slog record per secret read to logger (nil: slog.Default() at the
// time of each read), with the attributes
//
//	secret      the id asked for (name or ARN)
//	stage       the version stage asked for (AWSCURRENT when neither stage nor version id was given)
//	version_id  the version returned (for errors: the version id asked for, if any)
//	outcome     hit, miss, stale, fallback or error
//	latency     how long the read took
//	error_kind  for errors: not_found, throttled, ... (secretcache.KindName)
//	error       for errors: the error text (the core's errors name the secret, never a value)
//
// followed by the attributes the caller put in the context with
// WithAuditAttrs. Hits and misses are logged at WithAuditLevel (Info),
// stale reads, fallbacks and errors at WithAuditProblemLevel (Warn); hits can
// be sampled with WithAuditSampling. The value read is never logged. A
// hostile id (oversized, control characters, invalid UTF-8) is cleaned and
// cut to 2,048 bytes; the error text to 512 bytes.
func AuditHook(logger *slog.Logger, opts ...AuditOption) func(context.Context, secretcache.ReadEvent) {
	cfg := auditConfig{level: slog.LevelInfo, problemLevel: slog.LevelWarn, every: 1, msg: "secret read"}
	var problems []error
	for _, o := range opts {
		if o != nil {
			problems = append(problems, o(&cfg))
		}
	}
	warnEach(cmp.Or(logger, slog.Default()), problems)
	var hits atomic.Uint64
	return func(ctx context.Context, ev secretcache.ReadEvent) {
		if ctx == nil {
			ctx = context.Background()
		}
		l := logger
		if l == nil {
			l = slog.Default()
		}
		level := cfg.level
		switch ev.Outcome {
		case secretcache.OutcomeHit:
			if cfg.every > 1 && (hits.Add(1)-1)%cfg.every != 0 {
				return
			}
		case secretcache.OutcomeMiss:
		default:
			level = cfg.problemLevel
		}
		if !l.Enabled(ctx, level) {
			return
		}
		stage := ev.Ref.VersionStage
		if stage == "" && ev.Ref.VersionID == "" {
			stage = awsname.StageCurrent
		}
		attrs := make([]slog.Attr, 0, 10)
		attrs = append(attrs,
			slog.String("secret", cleanText(ev.Ref.ID, secretcache.MaxIDLength)),
			slog.String("stage", cleanText(stage, 256)))
		if v := ev.VersionID; v != "" || ev.Ref.VersionID != "" {
			if v == "" {
				v = ev.Ref.VersionID
			}
			attrs = append(attrs, slog.String("version_id", cleanText(v, 64)))
		}
		attrs = append(attrs, slog.String("outcome", ev.Outcome.String()), slog.Duration("latency", ev.Latency))
		if ev.Err != nil {
			attrs = append(attrs, slog.String("error_kind", secretcache.KindName(ev.Err)),
				slog.String("error", cleanText(ev.Err.Error(), 512)))
		}
		attrs = append(attrs, AuditAttrs(ctx)...)
		l.LogAttrs(ctx, level, cfg.msg, attrs...)
	}
}

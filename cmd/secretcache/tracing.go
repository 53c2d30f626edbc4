package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/tracing"
)

// agentTracing turns tracing on when the configuration (tracing = true) or
// the environment (OTEL_TRACES_EXPORTER=otlp, see package tracing) asks.
// It returns the agent's option and the flush to run at exit; with
// tracing off, no option and a flush that does nothing.
func (c *cli) agentTracing(ctx context.Context, cfg agent.Config, log *slog.Logger) ([]agent.Option, func(), error) {
	if !cfg.Tracing && !tracing.Enabled(c.lookupEnv) {
		return nil, func() {}, nil
	}
	opts := []tracing.Option{tracing.WithLookupEnv(c.lookupEnv)}
	if cfg.TracingSecretNames {
		opts = append(opts, tracing.WithSecretNames())
	}
	t, err := tracing.New(ctx, opts...)
	if err != nil {
		return nil, nil, err
	}
	log.Info("tracing on: OpenTelemetry spans over OTLP/HTTP (OTEL_* variables)", "secret_names", cfg.TracingSecretNames)
	flush := func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(fctx); err != nil {
			log.Warn("tracing: spans not flushed at exit", "err", err)
		}
	}
	return []agent.Option{agent.WithTracing(t)}, flush, nil
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
)

// newAWSSource builds the AWS Secrets Manager source of cfg: the SDK's
// default configuration (or awsCfg), the region or regions of cfg, the
// backend connection cap and timeouts, and the call observer.
func newAWSSource(ctx context.Context, cfg Config, awsCfg *aws.Config, log *slog.Logger,
	observe func(op, region string, d time.Duration, err error)) (secretcache.Source, func(), error) {
	var base aws.Config
	if awsCfg != nil {
		base = awsCfg.Copy()
	} else {
		var lo []func(*config.LoadOptions) error
		if r := cfg.PrimaryRegion(); r != "" {
			lo = append(lo, config.WithRegion(r))
		}
		var err error
		if base, err = config.LoadDefaultConfig(ctx, lo...); err != nil {
			return nil, nil, fmt.Errorf("agent: loading the AWS configuration: %w", err)
		}
	}
	if r := cfg.PrimaryRegion(); r != "" {
		base.Region = r
	}
	if base.Region == "" {
		return nil, nil, &ConfigError{Key: "region", Allowed: "no AWS region: set region (or regions) in the configuration, or AWS_REGION"}
	}
	if n := cfg.MaxBackendConns; n > 0 {
		base.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxConnsPerHost = n
			t.MaxIdleConnsPerHost = n
		})
	}
	if cfg.ValidateCredentials {
		if base.Credentials == nil {
			return nil, nil, errors.New("agent: no AWS credentials found (validate_credentials = true)")
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := base.Credentials.Retrieve(cctx)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("agent: no usable AWS credentials (validate_credentials = true): %w", err)
		}
	}
	fetch := time.Duration(cfg.FetchTimeoutMS) * time.Millisecond
	opts := []awssm.Option{awssm.WithLogger(log), awssm.WithCallObserver(observe), awssm.WithTimeout(fetch)}
	if fetch < awssm.DefaultAttemptTimeout {
		opts = append(opts, awssm.WithAttemptTimeout(fetch))
	}
	if len(cfg.Regions) > 0 {
		opts = append(opts, awssm.WithRegions(cfg.Regions[0], cfg.Regions[1:]...))
	}
	src, err := awssm.New(base, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: %w", err)
	}
	return src, nil, nil
}

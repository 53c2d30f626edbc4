package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/smithy-go"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/awssm"
)

// AWSInfo says how the agent reaches AWS: never a credential.
type AWSInfo struct {
	Region      string // the primary region
	RegionFrom  string // where it came from
	Credentials string // where the credentials come from, or why they are not resolved yet

	base *aws.Config // the SDK configuration the source was built on, for the Parameter Store source
}

// ErrNoCredentials is the error of New when validate_credentials is on and
// the AWS SDK finds no usable credentials.
var ErrNoCredentials = errors.New("no usable AWS credentials")

// awsLoadTimeout bounds loading the AWS configuration, which may ask the
// EC2 instance metadata service for the region.
const awsLoadTimeout = 10 * time.Second

// newAWSSource builds the AWS Secrets Manager source of cfg: the SDK's
// default configuration (or awsCfg), the region or regions of cfg, the
// credentials of credentials_file_path, the backend connection cap and
// timeouts, and the call observer.
//
// The region is, in order: region or regions of cfg; the SDK's
// (AWS_REGION, AWS_DEFAULT_REGION, the profile in the shared config file);
// on EC2, the instance's region from the instance metadata service (IMDS),
// as the AWS agent and the AWS CLI find it. No region at all is a
// *ConfigError for region.
func newAWSSource(ctx context.Context, cfg Config, awsCfg *aws.Config, log *slog.Logger,
	observe func(op, region string, d time.Duration, err error), extra ...awssm.Option) (secretcache.Source, AWSInfo, error) {
	var info AWSInfo
	var fileCreds *fileCredentials
	if p := cfg.CredentialsFilePath; p != "" {
		var err error
		if fileCreds, err = newFileCredentials(ctx, p, log); err != nil {
			return nil, info, &ConfigError{Key: "credentials_file_path", Allowed: err.Error()}
		}
	}
	var base aws.Config
	switch {
	case awsCfg != nil:
		base = awsCfg.Copy()
		info.RegionFrom = "the program's AWS configuration (WithAWSConfig)"
	default:
		var lo []func(*config.LoadOptions) error
		if fileCreds != nil {
			lo = append(lo, config.WithCredentialsProvider(aws.NewCredentialsCache(fileCreds)))
		}
		var err error
		if base, err = LoadAWSConfig(ctx, cfg.PrimaryRegion(), lo...); err != nil {
			return nil, info, err
		}
		info.RegionFrom = regionSource()
	}
	if r := cfg.PrimaryRegion(); r != "" {
		base.Region = r
		info.RegionFrom = "the configuration"
	}
	if base.Region == "" {
		return nil, info, &ConfigError{Key: "region", Allowed: noRegion}
	}
	info.Region = base.Region
	if fileCreds != nil {
		base.Credentials = aws.NewCredentialsCache(fileCreds)
	}
	if n := cfg.MaxBackendConns; n > 0 {
		base.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxConnsPerHost = n
			t.MaxIdleConnsPerHost = n
		})
	}
	switch {
	case fileCreds != nil:
		// As the AWS agent: the file may appear later, so it is not
		// required at start.
		info.Credentials = fileCreds.describe()
	case cfg.ValidateCredentials:
		if base.Credentials == nil {
			return nil, info, fmt.Errorf("agent: %w (validate_credentials = true): none found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, credentials_file_path, or run with an instance or task role", ErrNoCredentials)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		creds, err := base.Credentials.Retrieve(cctx)
		cancel()
		if err != nil {
			return nil, info, fmt.Errorf("agent: %w (validate_credentials = true): %w", ErrNoCredentials, err)
		}
		info.Credentials = "resolved at start from " + creds.Source
	default:
		info.Credentials = "the AWS SDK's default chain, resolved at the first AWS call (validate_credentials = false)"
	}
	fetch := time.Duration(cfg.FetchTimeoutMS) * time.Millisecond
	opts := []awssm.Option{awssm.WithLogger(log), awssm.WithCallObserver(observe), awssm.WithTimeout(fetch)}
	if fetch < awssm.DefaultAttemptTimeout {
		opts = append(opts, awssm.WithAttemptTimeout(fetch))
	}
	if len(cfg.Regions) > 0 {
		opts = append(opts, awssm.WithRegions(cfg.Regions[0], cfg.Regions[1:]...))
	}
	src, err := awssm.New(base, append(opts, extra...)...)
	if err != nil {
		return nil, info, fmt.Errorf("agent: %w", err)
	}
	info.base = &base
	return src, info, nil
}

const noRegion = "no AWS region found: set region (or regions) in the configuration file, --region, or AWS_REGION; on EC2 the instance metadata service tells it"

// LoadAWSConfig loads the AWS SDK's default configuration (environment,
// shared files, container and instance roles) as the agent uses it:
// region (if not "") wins; else the SDK's (AWS_REGION, AWS_DEFAULT_REGION,
// the profile); else, on EC2, the instance's region from the instance
// metadata service (config.WithEC2IMDSRegion). Loading is bounded by 10 s.
// No region at all is a *ConfigError for region saying where to set one;
// opts are added to the SDK's load options.
func LoadAWSConfig(ctx context.Context, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	lo := []func(*config.LoadOptions) error{config.WithEC2IMDSRegion()}
	if region != "" {
		lo = append(lo, config.WithRegion(region))
	}
	lo = append(lo, opts...)
	lctx, cancel := context.WithTimeout(ctx, awsLoadTimeout)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(lctx, lo...)
	var oe *smithy.OperationError
	switch {
	case errors.As(err, &oe) && oe.ServiceID == imds.ServiceID:
		return aws.Config{}, &ConfigError{Key: "region", Allowed: noRegion + " (instance metadata service: " + oe.Err.Error() + ")"}
	case err != nil:
		return aws.Config{}, fmt.Errorf("agent: loading the AWS configuration: %w", err)
	case cfg.Region == "":
		return aws.Config{}, &ConfigError{Key: "region", Allowed: noRegion}
	}
	return cfg, nil
}

// regionSource says where the SDK found the region, as far as the
// environment tells.
func regionSource() string {
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if os.Getenv(v) != "" {
			return "the environment (" + v + ")"
		}
	}
	return "the AWS shared config file, or the EC2 instance metadata service"
}

// StartInfo says where the agent's token and AWS settings came from, for
// "agent --check" and logs. It never holds the token or a credential.
type StartInfo struct {
	Token TokenSource
	AWS   *AWSInfo // nil when the agent reads another source (WithSource)
}

// StartInfo returns where the agent's token and AWS settings came from.
func (a *Agent) StartInfo() StartInfo { return a.start }

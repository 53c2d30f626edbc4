package smtest

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// AWSConfig returns an SDK configuration for this server: the region
// (region "" = the default region), static credentials "AKIDTEST" /
// "secret", BaseEndpoint = s.URL and the standard retryer (3 attempts) with
// backoffs of at most 20ms and no retry quota, so that tests of retries
// stay fast and deterministic.
func (srv *Server) AWSConfig(region string) aws.Config {
	return aws.Config{
		Region:       srv.resolveRegion(region),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxBackoff = 20 * time.Millisecond
				o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

// Client returns a Secrets Manager client for this server in region
// (region "" = the default region).
func (srv *Server) Client(region string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(srv.AWSConfig(region))
}

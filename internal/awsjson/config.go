package awsjson

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ClientConfig is the SDK configuration of a fake at url: region, static
// credentials "AKIDTEST" / "secret", BaseEndpoint = url and the standard
// retryer (3 attempts) with backoffs of at most 20ms and no retry quota, so
// that tests of retries stay fast and deterministic.
func ClientConfig(region, url string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(url),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxBackoff = 20 * time.Millisecond
				o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

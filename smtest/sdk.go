package smtest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretcache/secretcache/internal/awsjson"
)

// AWSConfig returns an SDK configuration for this server: the region
// (region "" = the default region), static credentials "AKIDTEST" /
// "secret", BaseEndpoint = s.URL and the standard retryer (3 attempts) with
// backoffs of at most 20ms and no retry quota, so that tests of retries
// stay fast and deterministic.
func (srv *Server) AWSConfig(region string) aws.Config {
	return awsjson.ClientConfig(srv.resolveRegion(region), srv.URL)
}

// Client returns a Secrets Manager client for this server in region
// (region "" = the default region).
func (srv *Server) Client(region string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(srv.AWSConfig(region))
}

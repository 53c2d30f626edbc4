// Package awsfail is the region failover shared by the AWS sources of this
// module (awssm for Secrets Manager, ssmparam for Parameter Store): one
// gobreaker circuit breaker per region, the ordered failover with
// background probes of half-open regions, the SDK's retryer, the
// per-attempt timeout middleware, the classification of AWS errors into the
// core's kinds, and CallError, the error of one failed API call.
//
// It is not a source: it knows no AWS service. A source gives it the
// service's own error codes (Codes) and its calls (Attempt).
package awsfail

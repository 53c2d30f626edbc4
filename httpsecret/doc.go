// Package httpsecret adds a credential kept in AWS Secrets Manager to
// outgoing HTTP requests and survives its rotation.
// It is not an HTTP client of its own (it wraps any http.RoundTripper) nor
// an authentication scheme: it sends a static key, it does not sign.
//
// A Transport is an http.RoundTripper that reads the credential from a
// secretcache.Cache on every request (a cached read) and sends it as
// "Authorization: Bearer <value>", as "Authorization: <scheme> <value>"
// (WithScheme) or in a header of its own (WithHeader, for an API key). The
// credential is the whole secret value or one field of a JSON secret
// (WithField).
//
// When the server answers 401 Unauthorized, the key may just have been
// rotated: the transport refreshes the secret and, when that gives another
// credential and the request body can be sent again, retries the request
// once with it. Concurrent 401s share one refresh, and refreshes are spaced
// by WithRefreshInterval, so a server that refuses everything costs one
// Secrets Manager call per interval.
//
// The credential never appears in errors or logs, is not added to a
// redirect to another host nor to a redirect from https to http, goes over
// plain http only to a loopback host or with WithInsecureHTTP (any other
// plain-http request fails with ErrPlainHTTP), and can be limited to given
// hosts (WithHosts).
// A credential that is empty, oversized or holds control characters (a
// header injection) is refused with an error that does not show it.
package httpsecret

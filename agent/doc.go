// Package agent is the secretcache sidecar: an HTTP server answering like the
// AWS Secrets Manager Agent, in front of a secretcache.Cache, for programs in
// any language. It is not a client library (Go programs read secrets with
// secretcache itself) nor the command that runs it (cmd/secretcache).
//
// It gives those programs the cache, failover and metrics over loopback, as
// a drop-in replacement for the AWS Secrets Manager Agent and the AWS
// Parameters and Secrets Lambda Extension. The command "secretcache agent"
// runs it; this package lets Go programs embed it or test against it.
//
// # Compatibility with the AWS agent
//
// The API answers as the AWS agent does, byte for byte where clients can
// see it:
//
//	GET /secretsmanager/get?secretId=ID[&versionId=V][&versionStage=S][&refreshNow=true]
//	GET /v1/ID[?versionId=V][&versionStage=S][&refreshNow=true]   (prefix: path_prefix)
//	GET /ping   -> 200 "healthy", no token needed
//
// Every other request must carry the token in X-Aws-Parameters-Secrets-Token
// or X-Vault-Token (ssrf_headers); the token comes from the first set of
// AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN
// (ssrf_env_variables), where "file:///path" names a file holding it
// (LoadToken). Tokens are compared in constant time. A request whose
// Host is not a loopback name or address (nor the address the connection
// was accepted on, nor a name of WithAllowedHosts) gets 421 "Host not
// allowed" first, on both listeners, against DNS rebinding. Then checks run
// in the AWS agent's order with its status codes and plain-text bodies: over
// max_conn requests in progress 429 "Connection limit exceeded" (health
// checks get two more); an X-Forwarded-For header 400 "Forwarded";
// a missing or wrong token 403 "Bad Token"; a method other than GET 405
// "Not allowed"; an unknown path 404 "Not found"; an unknown query
// parameter 400 "unknown parameter: NAME"; a missing id 400 "missing
// parameter secretId" or "missing secret ID"; a bad refreshNow 400 "invalid
// refreshNow value".
//
// A secret is answered with the GetSecretValue JSON in the AWS agent's
// layout: {"ARN","Name","VersionId","SecretString" or "SecretBinary"
// (base64),"VersionStages","CreatedDate"} with CreatedDate as epoch seconds
// in a string ("1569534789.046"). Errors of Secrets Manager keep their
// code, message and HTTP status in the body
// {"__type":"ResourceNotFoundException", "message":"..."}; a timeout is 504
// {"__type":"TimeoutError", "message":"Timeout"}, a connection failure 502
// {"__type":"ConnectionError", ...}.
//
// The configuration accepts the AWS agent's TOML keys and the Lambda
// extension's environment variables (Config); values it rejects get an error
// naming the key and its allowed range, and unknown keys are errors.
//
// # Beyond the AWS agent
//
//   - field=KEY returns one top-level key of a JSON secret: the same JSON
//     with SecretString holding that key's value (a string as its text,
//     anything else as its JSON); with "Accept: text/plain" just the value.
//     "Accept: text/plain" without field returns the bare value (raw bytes
//     for a binary secret).
//   - Concurrent requests for one secret share one AWS call (the core's
//     coalescing); refreshNow=true requests share one refresh too.
//   - Values are refreshed in the background before they expire
//     (refresh_ahead), so readers never wait on AWS for a cached secret.
//   - On transient AWS errors a value is served stale for at most
//     max_stale_seconds (the AWS agent serves it indefinitely); a permanent
//     error (access revoked, secret deleted) drops it at once.
//   - Regional failover over replica secrets (regions), with a circuit
//     breaker per region.
//   - Start-up prefetch of listed ids and of every name under a prefix, in
//     BatchGetSecretValue batches, after a random jitter; GET /ready answers
//     200 only once it is done.
//   - An admin listener (admin_addr, loopback by default; a warning is
//     logged when it is not, as for the API) with an HTML status page of
//     the cached secrets (age, version, stages, read counts, never values),
//     /status.json, /report, /metrics (Prometheus), /health/secrets and
//     /secrets-cache-stats.
//   - A configurable listen address for containers (listen_addr); SIGTERM
//     drains in-flight requests.
//
// # Hostile input
//
// The request line and headers are capped at MaxHeaderBytes (431 beyond),
// the target at MaxURLBytes (414), field= at MaxFieldBytes; ids, stages and
// version ids are validated by the cache (400 InvalidParameterException).
// Connections that serve nothing never keep a client out: max_conn counts
// requests in progress, a new connection over max_conn open closes the idle
// one that waited longest, and past twice max_conn plus 64 the oldest that
// have not sent a whole request go too; a request's headers must arrive
// within HeaderTimeout, an idle connection is closed after IdleTimeout, and
// one request may hold a connection for its timeouts plus 5 s. Accepted
// connections of the API get an IP time-to-live of 1 so answers cannot leave
// the first hop. Secret values never reach a log, an error, a metric or the
// status page; the token never appears in an error or a log.
package agent

// Package official benchmarks the official AWS Go caching client,
// github.com/aws/aws-secretsmanager-caching-go/v2 (pinned at v2.2.0),
// side by side with secretcache in the same run, over the same smtest
// server (real HTTP, the real SDK client, one aws.Config for both).
//
// It is a separate module so that the library's own go.mod does not
// require the official client; the root module's ./... does not descend
// into it. It has no exported API: everything is in its tests.
//
//	go test -race ./...                                   # the tests
//	go test -run '^$' -bench . -benchmem -cpu 1,2 -count 6 # the benchmarks
//
// The benchmarks: CachedRead and CachedReadInterleaved (parallel reads of
// 100 cached secrets, with a bare sync.Map load as the reference),
// MissStorm (1,000 goroutines miss one secret at once) and Expiry (what a
// reader waits when the TTL passes). BENCHMARKS.md at the repository root
// has the numbers.
package official

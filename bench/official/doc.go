// Package official benchmarks the official AWS Go caching client,
// github.com/aws/aws-secretsmanager-caching-go/v2, side by side with
// secretcache in the same run, over the same smtest server.
//
// It is a separate module so that the library's own go.mod does not
// require the official client; the root module's ./... does not descend
// into it. Run it from this directory:
//
//	go test ./...
//	go test -run '^$' -bench . -benchmem -cpu 1,2 -count 6
package official

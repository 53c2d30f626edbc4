// Package secretcache is an in-process cache of secrets in front of any
// backend (a [Source]); it is not a backend, a client of AWS or a store.
//
// It knows no backend's rules: a source states them in a [Description]
// (its default stage, its batch size, how it names a secret). Package
// awssm is the AWS Secrets Manager source.
//
// What it promises, in order:
//
//  1. Never a wrong secret. Entries are keyed by id, stage and version; an
//     answer from the source for another name, stage or version, or one
//     with no value, is refused ([ErrMismatch]) and the cached value kept.
//     A read that starts after [Cache.Invalidate] or [Cache.Clear] gets a
//     value fetched after it. Values never appear in errors, logs or
//     printed metadata: [Secret] redacts them in String, every fmt verb,
//     JSON and slog.
//  2. Never block a reader when a usable value exists. A read in the last
//     part of an entry's TTL (20 % by default, [WithRefreshAhead], widened
//     to cover a slow backend's measured latency) starts one background
//     refresh and returns the current value. When the source fails with a
//     transient error (throttled, unavailable), the last value is served
//     up to [WithMaxStale] past its TTL. A permanent error (not
//     found, access denied, deleted, decryption failure) drops the value at
//     once: a revoked secret does not live on.
//  3. Few backend calls. Concurrent misses of one secret make one call, and
//     each waiting caller still honours its own context. Entries due for
//     refresh at about the same time are refreshed together through a
//     [BatchSource] (up to the source's MaxBatch a call), and entries
//     refreshed together fall due together again, so a steady set of
//     secrets costs a few batch calls per TTL; the calls of one round run
//     side by side. Failing secrets back off exponentially with jitter.
//  4. Speed. A cached read is a lock-free lookup in an otter cache that
//     allocates nothing ([Cache.GetString], [Cache.GetField]).
//
// Entries are bounded by count and bytes ([WithMaxEntries], [WithMaxBytes]);
// eviction favours hot entries. TTLs come from [WithTTL], per-name policies
// ([WithPolicy]) and per-read overrides ([WithEntryTTL]). A version read by id
// ([WithVersionID]) never changes and is never refreshed.
//
// Errors match one of the Err* kinds with errors.Is; [IsTransient] and
// [IsPermanent] classify them, and the source's own error stays reachable
// with errors.As.
//
// [Cache.OnChange] reports a new version (metadata only) when a refresh finds
// one: rotation-aware resources (package rotate) build on it. [Cache.Refresh]
// with [IfVersion] or [IfOlderThan] is the one "refresh after a failure,
// shared by everyone who asks" that they use.
// [Cache.Stats] and [Cache.Entries] feed the monitor package.
package secretcache

// Package fleet shares one encrypted second-level cache (L2) on Redis among
// the hosts of a fleet, so that a secret costs one origin call per fleet,
// not one per host. It is not a cache itself, nor a store of secrets: it
// wraps a secretcache.Source, under a secretcache.Cache on every host.
//
// Fetch reads Redis first. On a miss (or an entry older than WithMaxAge)
// one host takes a lease (SET NX PX), reads the origin and writes Redis;
// the others poll for that write for a moment (WithLease) instead of
// calling the origin. A batch (the cache's refresh rounds and Warm) also
// refreshes the entries past half their max age, taking the batch's leases
// in one transaction, so that the hosts, whose entries fall due together,
// cost one origin call a batch. A forced fetch (Cache.Refresh, after a
// refused login or a notice) takes only an entry read after the caller's
// value. A secret the origin refuses for good (deleted, access revoked) is
// deleted from Redis by the host that learns it. Every Redis call is bounded (50 ms by default) and
// runs under a breaker: when Redis is down, slow or refusing, reads go to
// the origin directly, with no error and no more delay than that bound, and
// come back to Redis when it answers again.
//
// Redis is not trusted. Values are sealed with AES-256-GCM under a key of
// a Keyring (from a Secrets Manager secret, a file or an env var); the
// associated data binds each ciphertext to the fleet group, the ref it
// answers and the key id, and the authenticated plaintext holds the name,
// ARN, version id and stages, checked against the ref on every read. Redis
// keys are HMACs: a dump of Redis shows no value and no name. An entry that
// does not open or check is an L2 miss (Stats.Rejections) and never served.
// Entries carry the time of their origin fetch, and hand it to the host's
// cache (secretcache.Secret.FetchedAt), which counts the value's TTL and
// max-stale from it: an entry older than the max age is not served, and a
// value is at most about one TTL old fleet-wide when the max age is at
// most the cache's TTL (the agent sets it to its TTL). Give the fleet and
// the cache the same clock (WithClock in both, or neither).
package fleet

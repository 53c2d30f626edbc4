// Package fleet shares one encrypted second-level cache (L2) on Redis among
// the hosts of a fleet, so that a secret costs one origin call per fleet,
// not one per host. It is not a cache itself, nor a store of secrets: it
// wraps a secretcache.Source, under a secretcache.Cache on every host.
//
// Fetch reads Redis first. On a miss (or an entry older than WithMaxAge)
// one host takes a lease (SET NX PX), reads the origin and writes Redis;
// the others poll for that write for a moment (WithLease) instead of
// calling the origin. Every Redis call is bounded (50 ms by default) and
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
// Entries carry the time of their origin fetch: an entry older than the
// max age is not served, so a value is at most max age + the cache's TTL
// old fleet-wide.
package fleet

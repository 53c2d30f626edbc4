package fleet

import "github.com/secretcache/secretcache"

// EntryKey returns the Redis key of ref's entry, for tests that tamper.
func (s *Source) EntryKey(ref secretcache.Ref) string { return s.entryKey(ref) }

package main

import (
	"strings"
	"testing"

	"github.com/secretcache/secretcache"
)

// Every error kind of the core has an exit code of get other than 0 and 1
// (1 is for failures that are no kind of the cache).
func TestEveryKindHasAnExitCode(t *testing.T) {
	for _, kind := range secretcache.Kinds() {
		if code, ok := kindExits[kind]; !ok || code == exitOK || code == exitError {
			t.Errorf("kind %s: exit code %d (mapped %v)", secretcache.KindName(kind), code, ok)
		}
	}
	if len(kindExits) != len(secretcache.Kinds()) {
		t.Errorf("kindExits has %d entries for %d kinds", len(kindExits), len(secretcache.Kinds()))
	}
}

// A dev token is 256 random bits in hex, as the AWS agent's installer
// makes its token file.
func TestNewToken(t *testing.T) {
	t1, t2 := newToken(), newToken()
	if len(t1) != 64 || strings.Trim(t1, "0123456789abcdef") != "" || t1 == t2 {
		t.Errorf("newToken gave %d bytes, %q left after the hex digits, twice the same %v", len(t1), strings.Trim(t1, "0123456789abcdef"), t1 == t2)
	}
}

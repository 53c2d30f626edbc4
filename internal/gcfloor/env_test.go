package gcfloor

import (
	"os"
	"testing"
)

// unsetenv removes key for the rest of the test and puts it back after.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	if v, ok := os.LookupEnv(key); ok {
		t.Cleanup(func() { os.Setenv(key, v) })
	}
	os.Unsetenv(key)
}

//go:build unix

package render_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

func ownerOf(t *testing.T, path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}

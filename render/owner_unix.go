//go:build unix

package render

import (
	"io/fs"
	"syscall"
)

func ownerOK(fi fs.FileInfo, c writeConfig) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	return (c.uid == -1 || int(st.Uid) == c.uid) && (c.gid == -1 || int(st.Gid) == c.gid)
}

//go:build unix

package agent

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// checkOwner refuses a file owned by a user other than root and the user
// the agent runs as.
func checkOwner(path, what string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := uint32(os.Geteuid())
	if st.Uid == 0 || st.Uid == me {
		return nil
	}
	return unsafeFile("%s %s is owned by %s, not by root or by the user the agent runs as (%s), so its owner could change it; refused: run chown root %s (or chown it to the agent's user)",
		what, path, userName(st.Uid), userName(me), path)
}

// groupName describes the group of fi ("secretcache-token (gid 990)").
func groupName(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	gid := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name + " (gid " + gid + ")"
	}
	return "gid " + gid
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

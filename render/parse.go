package render

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ParseMode reads permission bits in octal ("0600", "640"), as the
// agent's [[template]] perms and "secretcache render --mode" take them.
// Anything else, or bits beyond 0777, is an error saying what is accepted.
func ParseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return 0, errors.New("want octal permission bits such as 0600 or 0640")
	}
	return fs.FileMode(n), nil
}

// ParseOwner reads "UID" or "UID:GID" (numbers, not names: a container
// may have no user database). The gid is -1 (keep) when absent.
func ParseOwner(s string) (uid, gid int, err error) {
	bad := fmt.Errorf("want UID or UID:GID, numbers")
	u, g, hasG := strings.Cut(s, ":")
	uid, err = strconv.Atoi(u)
	if err != nil || uid < 0 {
		return 0, 0, bad
	}
	gid = -1
	if hasG {
		if gid, err = strconv.Atoi(g); err != nil || gid < 0 {
			return 0, 0, bad
		}
	}
	return uid, gid, nil
}

package render

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
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

// MaxID is the largest uid or gid accepted: 4294967295 is chown's "keep"
// ((uid_t)-1), not a user.
const MaxID = 1<<32 - 2

// ParseOwner reads "UID" or "UID:GID" (numbers, not names: a container
// may have no user database). The gid is -1 (keep) when absent. An id
// above MaxID (4294967294), an overflowing one, a sign and an empty part
// are refused.
func ParseOwner(s string) (uid, gid int, err error) {
	u, g, hasG := strings.Cut(s, ":")
	if uid, err = parseID(u); err != nil {
		return 0, 0, err
	}
	gid = -1
	if hasG {
		if gid, err = parseID(g); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

func parseID(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, errors.New("want UID or UID:GID, numbers")
	}
	if err != nil || n > MaxID || n > math.MaxInt {
		return 0, fmt.Errorf("want UID or UID:GID, numbers from 0 to %d", uint64(MaxID))
	}
	return int(n), nil
}

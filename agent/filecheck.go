package agent

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
)

// The files the agent reads that decide who may use it or as whom it
// calls AWS (the token file, the AWS credentials file, the configuration
// file) follow one rule, the one OpenSSH applies to its own files
// (StrictModes):
//
//   - the file must be a regular file;
//   - it must not be writable by every user (mode o+w): any local user
//     could set the token, or the credentials, or the configuration;
//   - it must be owned by root or by the user the agent runs as: the owner
//     of a file can change it at any time (on Unix).
//
// A file that breaks the rule is refused with an error naming it, saying
// why and how to fix it. Readable-by-others bits are not refused (the
// token is meant to be read by the applications that call the agent); the
// callers log them. The directory is not checked: Kubernetes creates
// emptyDir volumes, where a pod shares its token, writable by every user,
// and a pod is one domain of trust.

// openChecked opens path for reading and checks it against the rule above.
// what names the file in errors ("token file", "credentials file"...).
// The checks run on the opened file (fstat), so the file checked is the
// file read.
//
// A path that is no regular file is refused before it is opened: opening a
// FIFO would block until some writer came.
func openChecked(path, what string) (*os.File, fs.FileInfo, error) {
	pre, err := os.Stat(path)
	if err != nil {
		if pe, ok := err.(*fs.PathError); ok {
			pe.Op = "open" // what the reader was doing, as os.Open would say
		}
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkFileInfo(path, what, pre); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if !os.SameFile(pre, fi) {
		f.Close()
		return nil, nil, unsafeFile("%s %s changed while it was opened; refused", what, path)
	}
	if err := checkFileInfo(path, what, fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// unsafeFileError is a key file that breaks the rule above.
type unsafeFileError struct{ msg string }

func (e *unsafeFileError) Error() string { return e.msg }

func unsafeFile(format string, args ...any) error {
	return &unsafeFileError{fmt.Sprintf(format, args...)}
}

func checkFileInfo(path, what string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return unsafeFile("%s %s is not a regular file (%s)", what, path, fi.Mode().Type())
	}
	perm := fi.Mode().Perm()
	if perm&0o002 != 0 {
		return unsafeFile("%s %s is writable by every user (mode %04o), so any local user could change it; refused: run chmod o-w %s", what, path, perm, path)
	}
	return checkOwner(path, what, fi)
}

// readChecked reads at most limit bytes of the file at path after
// openChecked; a longer file is an error.
func readChecked(path, what string, limit int64) ([]byte, fs.FileInfo, error) {
	f, fi, err := openChecked(path, what)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("%s %s is over the limit of %d bytes", what, path, limit)
	}
	return data, fi, nil
}

// logReadable logs who else may read a key file that passed openChecked.
// With ownerOnly (the AWS credentials file, as the AWS agent warns) any
// permission for group or others is a warning. Otherwise (the token file,
// meant to be shared with the applications that call the agent) a file
// readable by every user or writable by its group is a warning, and one
// readable by its group is logged at info level.
func logReadable(log *slog.Logger, what, path string, fi fs.FileInfo, ownerOnly bool) {
	perm := fi.Mode().Perm()
	switch {
	case ownerOnly && perm&0o077 != 0:
		log.Warn(what+" is more permissive than owner-only (0600): other users may read it; run chmod 600 on it", "file", path, "mode", fmt.Sprintf("%04o", perm))
	case ownerOnly:
	case perm&0o004 != 0:
		log.Warn(what+" is readable by every user: any local user can read it and call the agent; run chmod o-r on it", "file", path, "mode", fmt.Sprintf("%04o", perm))
	case perm&0o020 != 0:
		log.Warn(what+" is writable by its group: every member can change it", "file", path, "mode", fmt.Sprintf("%04o", perm), "group", groupName(fi))
	case perm&0o040 != 0:
		log.Info(what+" is readable by its group: every member can call the agent", "file", path, "mode", fmt.Sprintf("%04o", perm), "group", groupName(fi))
	}
}

package render

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/secretcache/secretcache/internal/clip"
)

// WriteOption configures WriteFile.
type WriteOption func(*writeConfig) error

type writeConfig struct {
	mode, dirMode fs.FileMode
	uid, gid      int
}

// WithMode sets the file's permission bits (default 0600). Bits beyond
// 0777 are refused.
func WithMode(m fs.FileMode) WriteOption {
	return func(c *writeConfig) error {
		if m&^fs.ModePerm != 0 {
			return fmt.Errorf("render: mode %#o: want permission bits only, such as 0600 or 0640", uint32(m))
		}
		c.mode = m
		return nil
	}
}

// WithDirMode sets the permission bits of directories WriteFile creates
// (default 0700, less the process's umask); existing directories are left
// as they are.
func WithDirMode(m fs.FileMode) WriteOption {
	return func(c *writeConfig) error {
		if m&^fs.ModePerm != 0 {
			return fmt.Errorf("render: directory mode %#o: want permission bits only, such as 0700 or 0750", uint32(m))
		}
		c.dirMode = m
		return nil
	}
}

// WithOwner sets the file's owner and group (chown; needs the right to do
// it), and those of the directories WriteFile creates for it (only those),
// so that the owner can reach its file. -1 keeps the process's for that
// part; below -1 or above MaxID is refused.
func WithOwner(uid, gid int) WriteOption {
	return func(c *writeConfig) error {
		if uid < -1 || gid < -1 || uid > MaxID || gid > MaxID {
			return fmt.Errorf("render: owner %d:%d: want ids from 0 to %d, or -1 to keep", uid, gid, uint64(MaxID))
		}
		c.uid, c.gid = uid, gid
		return nil
	}
}

// WriteFile writes data to path atomically: a temporary file in the same
// directory, with the mode and owner set before any byte is written, then
// fsync, rename over path, and fsync of the directory. When path already
// holds exactly data with the same mode (and owner, when set) it writes
// nothing and returns false. Missing directories are created (0700 by
// default; with WithOwner, owned by that owner). An empty path, or a path
// that is a directory, is refused; on any error path keeps its old content
// and the temporary file is removed.
func WriteFile(path string, data []byte, opts ...WriteOption) (changed bool, err error) {
	c := writeConfig{mode: 0o600, dirMode: 0o700, uid: -1, gid: -1}
	for _, o := range opts {
		if o == nil {
			return false, errors.New("render: nil write option")
		}
		if err := o(&c); err != nil {
			return false, err
		}
	}
	if path == "" {
		return false, errors.New("render: empty destination path")
	}
	path = filepath.Clean(path)
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return false, fmt.Errorf("render: destination %s is a directory", clip.String(path, 256))
		}
		if fi.Mode().Perm() == c.mode && ownerOK(fi, c) {
			if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
				return false, nil
			}
		}
	}
	dir := filepath.Dir(path)
	if err := mkdirs(dir, c); err != nil {
		return false, fmt.Errorf("render: creating the directory of %s: %w", clip.String(path, 256), err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("render: writing %s: %w", clip.String(path, 256), err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(c.mode); err != nil {
		return false, fmt.Errorf("render: writing %s: %w", clip.String(path, 256), err)
	}
	if c.uid != -1 || c.gid != -1 {
		if err := tmp.Chown(c.uid, c.gid); err != nil {
			return false, fmt.Errorf("render: setting the owner of %s: %w", clip.String(path, 256), err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return false, fmt.Errorf("render: writing %s: %w", clip.String(path, 256), err)
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("render: syncing %s: %w", clip.String(path, 256), err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("render: writing %s: %w", clip.String(path, 256), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("render: replacing %s: %w", clip.String(path, 256), err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // some file systems cannot sync a directory
		d.Close()
	}
	return true, nil
}

// mkdirs creates dir and its missing parents with c.dirMode, and gives
// the ones it created (not those that existed) c's owner.
func mkdirs(dir string, c writeConfig) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: d, Err: errors.New("not a directory")}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, c.dirMode); err != nil {
			if fi, serr := os.Stat(d); serr == nil && fi.IsDir() {
				continue // made by another process meanwhile: not ours
			}
			return err
		}
		if c.uid != -1 || c.gid != -1 {
			if err := os.Lchown(d, c.uid, c.gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// File is one template rendered to one destination.
type File struct {
	Template *Template
	Dest     string
	Write    []WriteOption
	// Command, when set, runs after the file changed (argv, no shell),
	// for CommandTimeout (default 30s), with its output on this process's
	// stderr (never in an error: it could hold a secret).
	Command        []string
	CommandTimeout time.Duration
	// Stop, when set and closed, ends a running command at once (the
	// agent's shutdown).
	Stop <-chan struct{}
}

// CommandError is the error of File.Command: it ran after the file was
// written (Render returns changed=true with it). It names the program and
// the destination, never the command's output.
type CommandError struct {
	Program, Dest string
	Err           error         // the exit error, or context.DeadlineExceeded or context.Canceled
	Timeout       time.Duration // the command's timeout when it fired
}

func (e *CommandError) Error() string {
	p := fmt.Sprintf("render: command %s after %s changed", clip.String(e.Program, 128), clip.String(e.Dest, 256))
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: timed out after %v (its command timeout)", p, e.Timeout)
	case errors.Is(e.Err, context.Canceled):
		return p + ": stopped (cancelled)"
	}
	return p + ": " + e.Err.Error()
}

func (e *CommandError) Unwrap() error { return e.Err }

// Render executes the template against src and writes the result to Dest
// when it differs. It returns whether the file changed. ctx bounds the
// reads; the command runs for its own CommandTimeout, not cut short by
// ctx's deadline (only by an explicit cancellation of ctx or by Stop). A
// failed template leaves Dest as it was; a failed command is a
// *CommandError returned with changed=true (the file was written), and
// RunCommand may retry it.
func (f *File) Render(ctx context.Context, src Source) (changed bool, err error) {
	if f.Template == nil {
		return false, errors.New("render: nil template")
	}
	out, err := f.Template.Execute(ctx, src)
	if err != nil {
		return false, err
	}
	changed, err = WriteFile(f.Dest, out, f.Write...)
	if err != nil || !changed || len(f.Command) == 0 {
		return changed, err
	}
	return true, f.RunCommand(ctx)
}

// RunCommand runs f.Command (nothing when there is none) for
// f.CommandTimeout (default 30s) and returns nil or a *CommandError.
// ctx's deadline does not bound it; an explicit cancellation of ctx
// (context.Canceled) or a close of f.Stop ends it.
func (f *File) RunCommand(ctx context.Context) error {
	if len(f.Command) == 0 {
		return nil
	}
	timeout := f.CommandTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var cancelled atomic.Bool
	stopCancel := func() { cancelled.Store(true); cancel() }
	if errors.Is(ctx.Err(), context.Canceled) {
		return &CommandError{Program: f.Command[0], Dest: f.Dest, Err: context.Canceled}
	}
	unwatch := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			stopCancel()
		}
	})
	defer unwatch()
	if f.Stop != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-f.Stop:
				stopCancel()
			case <-done:
			}
		}()
	}
	cmd := exec.CommandContext(cctx, f.Command[0], f.Command[1:]...)
	cmd.WaitDelay = time.Second
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	err := cmd.Run()
	switch {
	case cancelled.Load():
		return &CommandError{Program: f.Command[0], Dest: f.Dest, Err: context.Canceled}
	case cctx.Err() == context.DeadlineExceeded:
		return &CommandError{Program: f.Command[0], Dest: f.Dest, Err: context.DeadlineExceeded, Timeout: timeout}
	case err != nil:
		return &CommandError{Program: f.Command[0], Dest: f.Dest, Err: err}
	}
	return nil
}

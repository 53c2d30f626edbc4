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
// it). -1 keeps the process's for that part; below -1 is refused.
func WithOwner(uid, gid int) WriteOption {
	return func(c *writeConfig) error {
		if uid < -1 || gid < -1 {
			return fmt.Errorf("render: owner %d:%d: want ids of 0 or more, or -1 to keep", uid, gid)
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
// default). An empty path, or a path that is a directory, is refused; on
// any error path keeps its old content and the temporary file is removed.
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
	if err := os.MkdirAll(dir, c.dirMode); err != nil {
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
}

// Render executes the template against src and writes the result to Dest
// when it differs. It returns whether the file changed. A failed template
// leaves Dest as it was; a failed command is reported after the file was
// written.
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
	return true, f.runCommand(ctx)
}

func (f *File) runCommand(ctx context.Context) error {
	timeout := f.CommandTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.Command[0], f.Command[1:]...)
	cmd.WaitDelay = time.Second
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("render: command %s after %s changed: timed out after %v", clip.String(f.Command[0], 128), clip.String(f.Dest, 256), timeout)
	}
	if err != nil {
		return fmt.Errorf("render: command %s after %s changed: %v", clip.String(f.Command[0], 128), clip.String(f.Dest, 256), err)
	}
	return nil
}

package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed shape. deploy/Dockerfile states the same (a test
// compares them).
const (
	BinaryPath = "/usr/local/bin/secretcache"
	User       = "65532:65532"
	APIPort    = "2773/tcp"
	AdminPort  = "2774/tcp"
	DefaultCmd = "agent"
	// DefaultRepo is the image's name: the Kubernetes example runs it and
	// the README tells users to build and push it.
	DefaultRepo = "ghcr.io/secretcache/secretcache"
	// DefaultSource is the org.opencontainers.image.source label.
	DefaultSource = "https://github.com/secretcache/secretcache"
)

// maxBinary bounds the binary read into memory: far above the agent's
// ~15 MB, far below what a mistaken path (a disk image) would be.
const maxBinary = 256 << 20

// Spec is everything the image is made of: the same Spec gives the same
// bytes.
type Spec struct {
	Binary   []byte    // the static linux binary of ./cmd/secretcache
	Arch     string    // GOARCH of Binary: amd64, arm64
	Version  string    // org.opencontainers.image.version
	Source   string    // org.opencontainers.image.source
	Revision string    // org.opencontainers.image.revision
	Created  time.Time // the config's created time and every file's mtime
}

// file is one entry of the layer.
type file struct {
	name string // relative, no leading slash
	mode int64  // permission bits and sticky bit
	dir  bool
	data []byte
}

// passwd and group name the one non-root user, for tools that look it up;
// its shell is a path that does not exist in the image.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// files returns the layer's entries in sorted order: directories before
// what they hold. CA certificates are in the binary
// (golang.org/x/crypto/x509roots/fallback), so the layer has no cert file.
func (s Spec) files() []file {
	fs := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(BinaryPath, "/"), mode: 0o755, data: s.Binary},
	}
	slices.SortFunc(fs, func(a, b file) int { return strings.Compare(a.name, b.name) })
	return fs
}

// layerTar returns the layer's uncompressed tar: fixed owner (root),
// fixed times, sorted entries, no user or group names, PAX-free.
func (s Spec) layerTar() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range s.files() {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			ModTime: s.Created,
			Format:  tar.FormatUSTAR,
		}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Image builds the image of s: an empty base and one layer.
func (s Spec) Image() (v1.Image, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	tb, err := s.layerTar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tb)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	created := v1.Time{Time: s.Created}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "mkimage: " + BinaryPath + ", /etc/passwd, /etc/group, /tmp",
			Comment:   "secretcache " + s.Version,
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = s.Arch
	cf.OS = "linux"
	cf.Created = created
	cf.Author = ""
	cf.Config = v1.Config{
		User:         User,
		Entrypoint:   []string{BinaryPath},
		Cmd:          []string{DefaultCmd},
		ExposedPorts: map[string]struct{}{APIPort: {}, AdminPort: {}},
		Env:          []string{"PATH=/usr/local/bin"},
		WorkingDir:   "/",
		Labels:       s.Labels(),
	}
	return mutate.ConfigFile(img, cf)
}

// Labels returns the OCI labels (and manifest annotations) of s.
func (s Spec) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.source":   s.Source,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.title":    "secretcache",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
}

func (s Spec) check() error {
	switch s.Arch {
	case "amd64", "arm64":
	default:
		return fmt.Errorf("arch %q: accepted are amd64 and arm64", s.Arch)
	}
	for k, v := range map[string]string{"version": s.Version, "source": s.Source, "revision": s.Revision} {
		if v == "" || len(v) > 256 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%s %q: want 1 to 256 printable characters", k, v)
		}
	}
	return checkStatic(s.Binary, s.Arch)
}

// checkStatic refuses a binary the image could not run: not a linux ELF
// executable of arch, or one that needs a dynamic loader or shared
// libraries (the image has none).
func checkStatic(bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("binary: not an ELF executable (%v)", err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		return fmt.Errorf("binary: built for %v, want %s (build with GOOS=linux GOARCH=%s)", f.Machine, arch, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("binary: dynamically linked (it has an ELF interpreter); build with CGO_ENABLED=0")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("binary: needs shared libraries %v; build with CGO_ENABLED=0", libs)
	}
	return nil
}

// readBinary reads the binary at p, refusing what is not a regular file or
// is larger than maxBinary.
func readBinary(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("binary %s: not a regular file", p)
	}
	if fi.Size() > maxBinary {
		return nil, fmt.Errorf("binary %s: %d bytes, more than the %d accepted", p, fi.Size(), maxBinary)
	}
	return io.ReadAll(io.LimitReader(f, maxBinary+1))
}

// writeRootfs writes the layer's tree under dir (which must not exist), for
// deploy/Dockerfile to COPY into a scratch image.
func (s Spec) writeRootfs(dir string) error {
	if err := s.check(); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("rootfs %s: exists; give a path that does not", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range s.files() {
		p := filepath.Join(dir, filepath.FromSlash(path.Clean(f.name)))
		mode := os.FileMode(f.mode & 0o777)
		if f.mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		if f.dir {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
		} else if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	// Times last, deepest first: writing a file changes its directory's.
	fs := s.files()
	for i := len(fs) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(path.Clean(fs[i].name)))
		if err := os.Chtimes(p, s.Created, s.Created); err != nil {
			return err
		}
	}
	return nil
}

// parseEpoch reads SOURCE_DATE_EPOCH-style seconds.
func parseEpoch(v string) (time.Time, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 253402300799 {
		return time.Time{}, fmt.Errorf("created %q: want seconds since 1970 (SOURCE_DATE_EPOCH), 0 to 253402300799", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

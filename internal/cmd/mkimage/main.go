// Command mkimage builds the secretcache agent's container image without a
// Docker daemon: an OCI layout, a tarball for docker load, or a push.
// It is not a general image builder: the image's shape is fixed (image.go).
//
//	go run ./internal/cmd/mkimage -oci out/oci -tar out/secretcache.tar
//	go run ./internal/cmd/mkimage -push ghcr.io/OWNER/secretcache:0.1.0
//	go run ./internal/cmd/mkimage -arch amd64,arm64 -push ghcr.io/OWNER/secretcache:0.1.0   # an index
//
// Without -binary it builds ./cmd/secretcache itself, as the Dockerfile
// does: CGO_ENABLED=0, -trimpath, -buildvcs=false, -ldflags="-s -w". The
// same source, Go version, flags and -created give the same bytes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		binary   = fs.String("binary", "", "a static linux binary of ./cmd/secretcache to use (default: build it)")
		arch     = fs.String("arch", runtime.GOARCH, "GOARCH of the image: amd64 or arm64, or both comma-separated for a multi-platform index (-oci and -push only)")
		tag      = fs.String("tag", DefaultRepo+":"+secretcache.Version, "the image name written into -tar and -oci")
		ociDir   = fs.String("oci", "", "write an OCI image layout to this directory (must not exist)")
		tarPath  = fs.String("tar", "", "write a docker load tarball to this file (must not exist)")
		rootfs   = fs.String("rootfs", "", "write the layer's files to this directory (must not exist), for deploy/Dockerfile")
		push     = fs.String("push", "", "push the image to this reference (credentials: ~/.docker/config.json, e.g. from crane auth login)")
		version  = fs.String("version", secretcache.Version, "org.opencontainers.image.version")
		source   = fs.String("source", DefaultSource, "org.opencontainers.image.source")
		revision = fs.String("revision", "", "org.opencontainers.image.revision (default: git rev-parse HEAD, else \"unknown\")")
		created  = fs.String("created", "", "creation time in seconds since 1970 (default: $SOURCE_DATE_EPOCH, else 0)")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mkimage [flags]  (at least one of -oci, -tar, -rootfs, -push)\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: everything is a flag", fs.Arg(0))}
	}
	if *ociDir == "" && *tarPath == "" && *rootfs == "" && *push == "" {
		return usageError{errors.New("nothing to write: give -oci DIR, -tar FILE, -rootfs DIR or -push REF")}
	}
	ref, err := name.NewTag(*tag, name.StrictValidation)
	if err != nil {
		return usageError{fmt.Errorf("-tag %q: want REGISTRY/REPOSITORY:TAG (%v)", *tag, err)}
	}
	var pushRef name.Reference
	if *push != "" {
		if pushRef, err = name.ParseReference(*push, name.StrictValidation); err != nil {
			return usageError{fmt.Errorf("-push %q: want REGISTRY/REPOSITORY:TAG (%v)", *push, err)}
		}
	}
	for flagName, p := range map[string]string{"-oci": *ociDir, "-tar": *tarPath, "-rootfs": *rootfs} {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return usageError{fmt.Errorf("%s %s: exists; give a path that does not (mkimage never overwrites)", flagName, p)}
		}
	}
	epoch := *created
	if epoch == "" {
		epoch = getenv("SOURCE_DATE_EPOCH")
	}
	when := time.Unix(0, 0).UTC()
	if epoch != "" {
		if when, err = parseEpoch(epoch); err != nil {
			return usageError{err}
		}
	}
	rev := *revision
	if rev == "" {
		rev = gitRevision(ctx)
	}
	spec := Spec{Arch: *arch, Version: *version, Source: *source, Revision: rev, Created: when}
	arches, err := parseArches(*arch)
	if err != nil {
		return usageError{err}
	}
	if len(arches) > 1 && (*binary != "" || *tarPath != "" || *rootfs != "") {
		return usageError{errors.New("-arch with several architectures makes an index: it takes -oci and -push, not -binary, -tar or -rootfs (one architecture each)")}
	}
	imgs := make([]v1.Image, len(arches))
	var tmp string
	for i, a := range arches {
		s := spec
		s.Arch = a
		bin := *binary
		if bin == "" {
			if tmp == "" {
				if tmp, err = os.MkdirTemp("", "mkimage"); err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
			}
			bin = filepath.Join(tmp, "secretcache-"+a)
			if err := buildBinary(ctx, bin, a, stderr); err != nil {
				return err
			}
		}
		if s.Binary, err = readBinary(bin); err != nil {
			return err
		}
		if imgs[i], err = s.Image(); err != nil {
			return err
		}
		if *rootfs != "" {
			if err := s.writeRootfs(*rootfs); err != nil {
				return err
			}
		}
	}
	var idx v1.ImageIndex
	if len(imgs) > 1 {
		if idx, err = imageIndex(arches, imgs); err != nil {
			return err
		}
	}
	if *ociDir != "" {
		p, err := layout.Write(*ociDir, empty.Index)
		if err != nil {
			return err
		}
		ann := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()})
		if idx != nil {
			err = p.AppendIndex(idx, ann)
		} else {
			err = p.AppendImage(imgs[0], ann)
		}
		if err != nil {
			return err
		}
	}
	if *tarPath != "" {
		if err := os.MkdirAll(filepath.Dir(*tarPath), 0o755); err != nil {
			return err
		}
		if err := tarball.WriteToFile(*tarPath, ref, imgs[0]); err != nil {
			return err
		}
	}
	if pushRef != nil {
		opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
		if idx != nil {
			err = remote.WriteIndex(pushRef, idx, opts...)
		} else {
			err = remote.Write(pushRef, imgs[0], opts...)
		}
		if err != nil {
			return fmt.Errorf("push %s: %w", pushRef, err)
		}
	}
	if idx != nil {
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s index %s\n", ref, d)
	} else {
		fmt.Fprintln(stdout, ref)
	}
	for i, img := range imgs {
		if err := report(stdout, arches[i], img); err != nil {
			return err
		}
	}
	return nil
}

// parseArches reads -arch: amd64, arm64, or both, comma-separated, once each.
func parseArches(v string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if a != "amd64" && a != "arm64" {
			return nil, fmt.Errorf("-arch %q: accepted are amd64 and arm64, comma-separated", clipFlag(v))
		}
		if slices.Contains(out, a) {
			return nil, fmt.Errorf("-arch %q: %s given twice", clipFlag(v), a)
		}
		out = append(out, a)
	}
	return out, nil
}

func clipFlag(v string) string { return clip.String(v, 64) }

// imageIndex makes the multi-platform index of imgs, one per arch.
func imageIndex(arches []string, imgs []v1.Image) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, len(imgs))
	for i, img := range imgs {
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		adds[i] = mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			MediaType: mt, Platform: &v1.Platform{OS: "linux", Architecture: arches[i]}}}
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// report prints an image's digest and sizes.
func report(w io.Writer, arch string, img v1.Image) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	size, err := imageSize(img)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "linux/%s %s size %d bytes compressed (%.1f MB)\n", arch, d, size, float64(size)/1e6)
	return nil
}

// imageSize is what a registry stores and a pull downloads: manifest,
// config and compressed layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return 0, err
	}
	total := int64(len(m) + len(c))
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// buildFlags are the go build flags of the image's binary; deploy/Dockerfile
// uses the same.
var buildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// buildBinary builds ./cmd/secretcache as the Dockerfile does.
func buildBinary(ctx context.Context, out, arch string, stderr io.Writer) error {
	args := append([]string{"build"}, buildFlags...)
	cmd := exec.CommandContext(ctx, "go", append(args, "-o", out, "github.com/secretcache/secretcache/cmd/secretcache")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/secretcache: %w (run mkimage inside the secretcache module, or give -binary)", err)
	}
	return nil
}

// gitRevision returns the commit of the working tree, or "unknown" outside
// a git checkout (the Dockerfile's build context has no .git).
func gitRevision(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if rev := strings.TrimSpace(string(out)); err == nil && rev != "" {
		return rev
	}
	return "unknown"
}

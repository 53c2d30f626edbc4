package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const driverEnv = "MKIMAGE_TEST_DRIVER_ROOTFS"

// TestMain runs nsDriver when the test re-executes itself inside the new
// namespaces (see TestImageRuns).
func TestMain(m *testing.M) {
	if root := os.Getenv(driverEnv); root != "" {
		if err := nsDriver(root); err != nil {
			fmt.Fprintln(os.Stderr, "driver:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// agentBinary builds ./cmd/secretcache as mkimage does, once.
func agentBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mkimage-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "secretcache")
		var out bytes.Buffer
		if err := buildBinary(context.Background(), binPath, "amd64", &out); err != nil {
			binErr = fmt.Errorf("%v\n%s", err, out.String())
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func testSpec(t *testing.T) Spec {
	t.Helper()
	b, err := readBinary(agentBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Binary: b, Arch: "amd64", Version: "1.2.3", Source: DefaultSource,
		Revision: "0123456789abcdef0123456789abcdef01234567", Created: time.Unix(1700000000, 0).UTC()}
}

// writeAll runs mkimage's writers into dir and returns the paths.
func writeAll(t *testing.T, dir string, bin string) (oci, tarFile string) {
	t.Helper()
	oci, tarFile = filepath.Join(dir, "oci"), filepath.Join(dir, "img.tar")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-binary", bin, "-arch", "amd64", "-revision", "abc123", "-created", "1700000000",
		"-oci", oci, "-tar", tarFile}, &out, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "size ") {
		t.Errorf("no size reported: %q", out.String())
	}
	return oci, tarFile
}

// treeDigest hashes every file under dir with its relative path.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %d\n", rel, len(b))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestReproducible(t *testing.T) {
	bin := agentBinary(t)
	a, b := t.TempDir(), t.TempDir()
	ociA, tarA := writeAll(t, a, bin)
	ociB, tarB := writeAll(t, b, bin)
	if treeDigest(t, ociA) != treeDigest(t, ociB) {
		t.Error("two OCI layouts of the same inputs differ")
	}
	ta, _ := os.ReadFile(tarA)
	tb, _ := os.ReadFile(tarB)
	if !bytes.Equal(ta, tb) {
		t.Error("two tarballs of the same inputs differ")
	}
	// Another creation time is another image.
	s := testSpec(t)
	i1, _ := s.Image()
	s.Created = s.Created.Add(time.Second)
	i2, _ := s.Image()
	d1, _ := i1.Digest()
	d2, _ := i2.Digest()
	if d1 == d2 {
		t.Error("the creation time does not reach the image")
	}
}

// readBack reads the image from the OCI layout and from the tarball and
// checks they are the same image.
func readBack(t *testing.T, oci, tarFile string) v1.Image {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(oci)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != DefaultRepo+":0.1.0" {
		t.Fatalf("layout index: %+v", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(DefaultRepo + ":0.1.0")
	fromTar, err := tarball.ImageFromPath(tarFile, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// docker load reads manifest.json: one image, tagged.
	raw, err := tarball.ComputeManifest(map[name.Reference]v1.Image{tag: fromTar})
	if err != nil || len(raw) != 1 || !slices.Equal(raw[0].RepoTags, []string{tag.String()}) {
		t.Errorf("tarball manifest: %+v %v", raw, err)
	}
	c1, _ := img.ConfigName()
	c2, _ := fromTar.ConfigName()
	if c1 != c2 {
		t.Errorf("layout config %s, tarball config %s", c1, c2)
	}
	return img
}

func TestImageShape(t *testing.T) {
	oci, tarFile := writeAll(t, t.TempDir(), agentBinary(t))
	img := readBack(t, oci, tarFile)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{BinaryPath}) || !slices.Equal(c.Cmd, []string{"agent"}) {
		t.Errorf("config user %q entrypoint %q cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.ExposedPorts["2773/tcp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	for k, want := range map[string]string{"org.opencontainers.image.version": "0.1.0",
		"org.opencontainers.image.source": DefaultSource, "org.opencontainers.image.revision": "abc123"} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Created.Unix() != 1700000000 {
		t.Errorf("os %s arch %s created %v", cf.OS, cf.Architecture, cf.Created)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (empty base)", len(layers))
	}
	size, err := imageSize(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image size %d bytes compressed (%.1f MB; goal under 20 MB)", size, float64(size)/1e6)
	if size >= 20e6 {
		t.Errorf("image is %d bytes, goal under 20 MB", size)
	}
}

// unpack extracts the image's one layer into dir, refusing entries that
// leave it, and returns the entry names.
func unpack(t *testing.T, img v1.Image, dir string) []string {
	t.Helper()
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: owner %d:%d %q, mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("entry %q leaves the root", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("entry %q of type %c: the layer holds only files and directories", h.Name, h.Typeflag)
		}
		if err := os.Chmod(p, h.FileInfo().Mode()); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// needUnshare finds unshare and checks it can make the namespaces (root).
func needUnshare(t *testing.T) string {
	t.Helper()
	miss := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (required under CI=true: run as root with util-linux and iproute2)", why)
		}
		t.Skip(why)
	}
	u, err := exec.LookPath("unshare")
	if err != nil {
		miss("unshare not found")
	}
	for _, tool := range []string{"chroot", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss(tool + " not found")
		}
	}
	if os.Geteuid() != 0 {
		miss("not root: chroot and a real uid 65532 need root")
	}
	return u
}

// TestImageRuns unpacks the image and runs its binary in new PID, mount
// and network namespaces, chrooted into the layer as uid 65532, and reads
// a secret through agent --dev there. No user namespace: without newuidmap
// only one uid maps into one, so 65532 inside would be root outside; here
// the agent runs as the real uid 65532.
func TestImageRuns(t *testing.T) {
	unshare := needUnshare(t)
	oci, tarFile := writeAll(t, t.TempDir(), agentBinary(t))
	img := readBack(t, oci, tarFile)
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	names := unpack(t, img, root)
	want := []string{"etc/", "etc/group", "etc/passwd", "tmp/", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/secretcache"}
	if !slices.Equal(names, want) {
		t.Errorf("layer entries %q, want %q", names, want)
	}
	for _, bad := range []string{"bin/sh", "usr/bin/sh", "bin/busybox", "usr/bin/apt", "usr/bin/dpkg", "sbin/apk", "var/lib/dpkg"} {
		if _, err := os.Lstat(filepath.Join(root, bad)); err == nil {
			t.Errorf("the image has %s", bad)
		}
	}
	bin := filepath.Join(root, BinaryPath)
	b, _ := os.ReadFile(bin)
	if err := checkStatic(b, "amd64"); err != nil {
		t.Error(err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == "golang.org/x/crypto/x509roots/fallback" }) {
		t.Error("the binary does not embed golang.org/x/crypto/x509roots/fallback: TLS to AWS would find no CA certificates")
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" && s.Value != "0" || s.Key == "-trimpath" && s.Value != "true" {
			t.Errorf("build setting %s=%s", s.Key, s.Value)
		}
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--pid", "--fork", "--mount-proc", "--mount", "--net", "--", self, "-test.run=^$")
	cmd.Env = append(os.Environ(), driverEnv+"="+root)
	out, err := cmd.CombinedOutput()
	t.Logf("in the namespaces:\n%s", out)
	if err != nil {
		t.Fatalf("the image's binary in new namespaces: %v", err)
	}
	if !strings.Contains(string(out), "driver: ok") {
		t.Error("the driver did not finish")
	}
}

// nsDriver runs inside the new namespaces, as root: loopback up, a fresh
// /tmp, the agent chrooted as 65532, a secret read through it.
func nsDriver(root string) error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v %s", err, out)
	}
	if err := syscall.Mount("tmpfs", filepath.Join(root, "tmp"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777,size=16m"); err != nil {
		return fmt.Errorf("mount /tmp: %v", err)
	}
	chroot := func(args ...string) *exec.Cmd {
		cmd := exec.Command("chroot", append([]string{"--userspec=65532:65532", root}, args...)...)
		cmd.Env = []string{"PATH=/usr/local/bin", "HOME=/tmp"}
		return cmd
	}
	// No shell: the image cannot run one.
	if err := exec.Command("chroot", root, "/bin/sh", "-c", "true").Run(); err == nil {
		return errors.New("/bin/sh ran inside the image")
	}
	agent := chroot(BinaryPath, "agent", "--dev", "--dev-exit-after", "150s")
	pr, pw := io.Pipe()
	agent.Stdout, agent.Stderr = pw, pw
	if err := agent.Start(); err != nil {
		return err
	}
	defer func() { _ = agent.Process.Kill(); _, _ = agent.Process.Wait() }()
	var token, api string
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		done := false
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "token" {
				token = f[1]
			}
			if token != "" {
				line = strings.ReplaceAll(line, token, "<token>")
			}
			fmt.Println("agent|", line)
			if len(f) >= 2 && f[0] == "API" {
				api = f[1]
			}
			if !done && strings.Contains(line, "prefetch done") && token != "" && api != "" {
				done = true
				ready <- nil
			}
		}
		if !done {
			ready <- errors.New("the agent's output ended before it was ready")
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			return err
		}
	case <-time.After(120 * time.Second):
		return errors.New("the agent was not ready in 120s")
	}
	// The agent's process (chroot execs it): uid 65532, not root.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", agent.Process.Pid))
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") {
			if f := strings.Fields(l); len(f) != 5 || f[1] != "65532" || f[2] != "65532" || f[3] != "65532" {
				return fmt.Errorf("the agent runs with %q, want 65532", l)
			}
		}
	}
	req, _ := http.NewRequest("GET", api+"/secretsmanager/get?secretId=demo/db", nil)
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct{ Name, SecretString string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("GET secretsmanager/get: %d %v", resp.StatusCode, err)
	}
	if body.Name != "demo/db" || !strings.Contains(body.SecretString, `"engine":"postgres"`) {
		return fmt.Errorf("wrong secret: name %q", body.Name)
	}
	// The image's own client, also as 65532.
	get := chroot(BinaryPath, "get", "demo/api-key", "--agent-url", api)
	get.Env = append(get.Env, "AWS_TOKEN="+token)
	out, err := get.Output()
	if err != nil || strings.TrimSpace(string(out)) != "demo-api-key-0123456789" {
		return fmt.Errorf("secretcache get in the image: %v (%d bytes)", err, len(out))
	}
	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if st, err := agent.Process.Wait(); err != nil || !st.Success() {
		return fmt.Errorf("the agent on SIGTERM: %v %v", st, err)
	}
	fmt.Println("driver: ok")
	return nil
}

func TestBadInput(t *testing.T) {
	bin := agentBinary(t)
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	os.WriteFile(exists, nil, 0o644)
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "nothing to write"},
		{[]string{"-tar", exists, "-binary", bin}, "exists"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-tag", "not a tag", "-binary", bin}, "-tag"},
		{[]string{"-push", "UPPER/Case::", "-binary", bin}, "-push"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-created", "yesterday", "-binary", bin}, "SOURCE_DATE_EPOCH"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-binary", script, "-revision", "x"}, "not an ELF"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-binary", dir, "-revision", "x"}, "not a regular file"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-binary", bin, "-arch", "386", "-revision", "x"}, "accepted are amd64 and arm64"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-binary", bin, "-arch", "arm64", "-revision", "x"}, "want arm64"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-binary", bin, "-version", "a\nb", "-revision", "x"}, "printable"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-tar", filepath.Join(dir, "t"), "-arch", "amd64,arm64"}, "makes an index"},
		{[]string{"-oci", filepath.Join(dir, "t"), "-arch", "arm64,arm64"}, "given twice"},
		{[]string{"-oci", filepath.Join(dir, "t"), "-arch", ""}, "accepted are amd64 and arm64"},
	} {
		err := run(context.Background(), tc.args, io.Discard, io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("mkimage %q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "t")); err == nil {
		t.Error("a failed run left a tarball")
	}
	// A dynamically linked binary is refused.
	if sh, err := exec.LookPath("sh"); err == nil {
		b, _ := os.ReadFile(sh)
		if err := checkStatic(b, "amd64"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("checkStatic(%s): %v", sh, err)
		}
	}
}

func TestRootfs(t *testing.T) {
	s := testSpec(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := s.writeRootfs(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range s.files() {
		fi, err := os.Lstat(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(fi.Mode().Perm()); fi.Mode()&os.ModeSticky != 0 {
			got |= 0o1000
			if got != f.mode {
				t.Errorf("%s mode %o want %o", f.name, got, f.mode)
			}
		} else if got != f.mode {
			t.Errorf("%s mode %o want %o", f.name, got, f.mode)
		}
	}
	if err := s.writeRootfs(dir); err == nil {
		t.Error("writeRootfs over an existing directory succeeded")
	}
}

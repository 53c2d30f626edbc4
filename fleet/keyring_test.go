package fleet_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/fleet"
)

var key32 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func TestParseKeyring(t *testing.T) {
	good := `{"current":"k2","keys":{"k1":"` + key32 + `","k2":"` + key32 + `"}}`
	kr, err := fleet.ParseKeyring([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if kr.Current() != "k2" || strings.Join(kr.IDs(), ",") != "k1,k2" {
		t.Errorf("current %q ids %v", kr.Current(), kr.IDs())
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "empty"},
		{"oversized", strings.Repeat(" ", 70<<10), "over the limit"},
		{"not json", `current=k1`, "is not"},
		{"unknown field", `{"current":"k1","keys":{"k1":"` + key32 + `"},"x":1}`, "is not"},
		{"no key", `{"current":"k1","keys":{}}`, "no key"},
		{"unknown current", `{"current":"k9","keys":{"k1":"` + key32 + `"}}`, "not among"},
		{"short key", `{"current":"k1","keys":{"k1":"c2hvcnQ="}}`, "5 bytes, want 32"},
		{"not base64", `{"current":"k1","keys":{"k1":"!!!secret-material!!!"}}`, "not base64"},
		{"bad id", `{"current":"k 1","keys":{"k 1":"` + key32 + `"}}`, "key id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fleet.ParseKeyring([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key32) || strings.Contains(err.Error(), "secret-material") {
				t.Fatalf("error quotes key material: %v", err)
			}
		})
	}
}

func TestKeyringFromFileRefusesWritableFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fleet.key")
	doc := `{"current":"k1","keys":{"k1":"` + key32 + `"}}`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.KeyringFromFile(p); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o620, 0o602, 0o666} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := fleet.KeyringFromFile(p); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
			t.Errorf("mode %v: err %v, want refused", mode, err)
		}
	}
	if _, err := fleet.KeyringFromFile(""); err == nil {
		t.Error("empty path accepted")
	}
	if _, err := fleet.KeyringFromFile(dir); err == nil {
		t.Error("a directory accepted")
	}
}

func TestKeyringFromEnvAndSecret(t *testing.T) {
	doc := `{"current":"k1","keys":{"k1":"` + key32 + `"}}`
	t.Setenv("FLEET_TEST_KEY", doc)
	if _, err := fleet.KeyringFromEnv("FLEET_TEST_KEY"); err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.KeyringFromEnv("FLEET_TEST_UNSET"); err == nil {
		t.Error("unset env accepted")
	}
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		if ref.ID != "fleet/key" {
			return nil, secretcache.NewError(secretcache.ErrNotFound, ref.ID, nil)
		}
		return &secretcache.Secret{Name: "fleet/key", String: doc}, nil
	})
	if _, err := fleet.KeyringFromSecret(context.Background(), src, "fleet/key"); err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.KeyringFromSecret(context.Background(), src, "other"); err == nil {
		t.Error("missing secret accepted")
	}
	if _, err := fleet.KeyringFromSecret(context.Background(), src, ""); err == nil {
		t.Error("empty id accepted")
	}
}

func TestNewRefusesBadArguments(t *testing.T) {
	e := newEnv(t, single(t))
	rdb := e.client()
	src := secretcache.SourceFunc(func(context.Context, secretcache.Ref) (*secretcache.Secret, error) { return nil, nil })
	for name, f := range map[string]func() error{
		"nil redis":   func() error { _, err := fleet.New(nil, src, e.kr); return err },
		"nil source":  func() error { _, err := fleet.New(rdb, nil, e.kr); return err },
		"nil keyring": func() error { _, err := fleet.New(rdb, src, nil); return err },
		"empty group": func() error { _, err := fleet.New(rdb, src, e.kr, fleet.WithGroup("")); return err },
		"long group": func() error {
			_, err := fleet.New(rdb, src, e.kr, fleet.WithGroup(strings.Repeat("g", 300)))
			return err
		},
		"zero max age": func() error { _, err := fleet.New(rdb, src, e.kr, fleet.WithMaxAge(0)); return err },
		"breaker 0":    func() error { _, err := fleet.New(rdb, src, e.kr, fleet.WithBreaker(0, 1)); return err },
		"nil option":   func() error { _, err := fleet.New(rdb, src, e.kr, nil); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Hosts of two groups never share entries.
func TestGroupsAreSeparate(t *testing.T) {
	e := newEnv(t, single(t))
	if _, err := e.sm.CreateSecret("", "a", "v"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := e.host(e.kr, []fleet.Option{fleet.WithGroup("blue")})
	b := e.host(e.kr, []fleet.Option{fleet.WithGroup("green")})
	if _, err := a.cache.GetString(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.cache.GetString(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if st := b.src.Stats(); st.Hits != 0 || st.Origin != 1 {
		t.Errorf("green host %+v: served blue's entry", st)
	}
	scanRedis(t, a.rdb, "blue", "green")
}

// A key rotation: hosts with the new key current still read the entries
// hosts on the old key wrote, while the old key is in their keyring.
func TestKeyRotationKeepsTheL2Warm(t *testing.T) {
	e := newEnv(t, single(t))
	for i := range 3 {
		if _, err := e.sm.CreateSecret("", secretName(i), secretValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	k1 := []byte("0123456789abcdef0123456789abcdef")
	k2 := []byte("fedcba9876543210fedcba9876543210")
	oldRing, _ := fleet.NewKeyring("k1", map[string][]byte{"k1": k1})
	both, _ := fleet.NewKeyring("k2", map[string][]byte{"k1": k1, "k2": k2})
	newOnly, _ := fleet.NewKeyring("k2", map[string][]byte{"k2": k2})
	ctx := context.Background()
	old := e.host(oldRing, nil)
	var ids []string
	for i := range 3 {
		ids = append(ids, secretName(i))
		if _, err := old.cache.GetString(ctx, secretName(i)); err != nil {
			t.Fatal(err)
		}
	}
	before := e.awsReads()
	rotating := e.host(both, nil)
	if _, err := rotating.cache.GetString(ctx, secretName(0)); err != nil { // Fetch
		t.Fatal(err)
	}
	if err := rotating.cache.Warm(ctx, ids[1:]...); err != nil { // FetchBatch
		t.Fatal(err)
	}
	for i, id := range ids {
		if v, err := rotating.cache.GetString(ctx, id); err != nil || v != secretValue(i) {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if got := e.awsReads() - before; got != 0 {
		t.Errorf("a host with k2 current and k1 kept made %d AWS reads, want 0", got)
	}
	fresh := e.host(newOnly, nil)
	if _, err := fresh.cache.GetString(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if st := fresh.src.Stats(); st.Hits != 0 || st.Origin != 1 || st.Rejections != 0 {
		t.Errorf("a host with only k2: %+v, want a plain miss", st)
	}
}

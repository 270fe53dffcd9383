package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/util/keyutil"
)

func TestServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, dir)
	first, err := ca.ServiceAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, ok := first.(*rsa.PrivateKey)
	if !ok || rsaKey.N.BitLen() != 2048 {
		t.Fatalf("generated key is a %T, want a 2048-bit RSA key", first)
	}
	info, err := os.Stat(filepath.Join(dir, "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("sa.key has mode %v, readable by others", info.Mode().Perm())
	}
	assertPublicKey(t, filepath.Join(dir, "sa.pub"), first)

	// After a restart (a new CA value over the same directory) the key is the same.
	again, err := mustCA(t, dir).ServiceAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	if !first.(*rsa.PrivateKey).Equal(again) {
		t.Error("the second call made a new key instead of loading the first")
	}

	// A lost public half is written again.
	if err := os.Remove(filepath.Join(dir, "sa.pub")); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServiceAccountKey(); err != nil {
		t.Fatal(err)
	}
	assertPublicKey(t, filepath.Join(dir, "sa.pub"), first)
}

func assertPublicKey(t *testing.T, path string, key crypto.Signer) {
	t.Helper()
	pubs, err := keyutil.PublicKeysFromFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if len(pubs) != 1 || !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pubs[0]) {
		t.Errorf("%s holds %v, not the public half of the key", path, pubs)
	}
}

func TestServiceAccountKeyFromOperator(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	pemOf := func(key crypto.PrivateKey) []byte {
		b, err := keyutil.MarshalPrivateKeyToPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{name: "ECDSA P-256 is used", data: pemOf(p256)},
		{name: "ECDSA P-384 is refused", data: pemOf(p384), wantErr: "P-384"},
		{name: "a weak RSA key is refused", data: pemOf(weak), wantErr: "1024 bits"},
		{name: "garbage is refused", data: []byte("not a key"), wantErr: "reading service account key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustCA(t, dir)
			if err := os.WriteFile(filepath.Join(dir, "sa.key"), c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			key, err := ca.ServiceAccountKey()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ServiceAccountKey = %T, %v; want an error saying %q", key, err, c.wantErr)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "sa.key")); string(got) != string(c.data) {
					t.Error("a refused key was overwritten")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p256.Equal(key) {
				t.Error("the operator's key was not the one returned")
			}
			assertPublicKey(t, filepath.Join(dir, "sa.pub"), key)
		})
	}
}

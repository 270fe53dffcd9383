package chart

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v3/pkg/repo"
)

const scaffoldDir = "../testdata/charts/scaffold"

// testKey is an OpenPGP key made for one test, with its keyrings on disk.
type testKey struct {
	entity *openpgp.Entity
	// secring holds the secret key, pubring the public one only.
	secring, pubring string
}

// identity is the key's one identity, as `helm verify` prints it.
func (k testKey) identity() string {
	for name := range k.entity.Identities {
		return name
	}
	return ""
}

func (k testKey) fingerprint() string { return fmt.Sprintf("%X", k.entity.PrimaryKey.Fingerprint) }

// newTestKey makes an Ed25519 key (quick to make) for name <email>,
// encrypted with passphrase when not empty, and writes its keyrings into a
// directory of the test's own.
func newTestKey(t testing.TB, name, email, passphrase string) testKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := testKey{entity: e, secring: filepath.Join(dir, "secring.gpg"), pubring: filepath.Join(dir, "pubring.gpg")}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	var sec bytes.Buffer
	// The identities are self-signed already; an encrypted key could not
	// sign them again.
	if err := e.SerializePrivateWithoutSigning(&sec, nil); err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{k.secring: sec.Bytes(), k.pubring: pub.Bytes()} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// keyring writes one public keyring holding all keys' public keys.
func keyring(t testing.TB, keys ...testKey) string {
	t.Helper()
	var b []byte
	for _, k := range keys {
		pub, err := os.ReadFile(k.pubring)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, pub...)
	}
	path := filepath.Join(t.TempDir(), "pubring.gpg")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileDigest(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// copyFile copies src to dst, with the byte at offset flipped when flip.
func copyFile(t testing.TB, src, dst string, flip bool) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if flip {
		b[len(b)/2] ^= 0xff
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signedScaffold packages and signs the scaffold chart with key into a new
// directory and returns the archive's path.
func signedScaffold(t testing.TB, key testKey) string {
	t.Helper()
	archive, err := Package(context.Background(), scaffoldDir, PackageOptions{
		Destination: t.TempDir(), Sign: true,
		SignOptions: SignOptions{Key: key.identity(), Keyring: key.secring},
	})
	if err != nil {
		t.Fatal(err)
	}
	return archive
}

func TestProvenancePackageSignAndVerify(t *testing.T) {
	ctx := context.Background()
	jane := newTestKey(t, "Jane Signer", "jane@example.com", "")
	mallory := newTestKey(t, "Mallory", "mallory@example.net", "")
	archive := signedScaffold(t, jane)
	if filepath.Base(archive) != "scaffold-0.1.0.tgz" {
		t.Fatalf("packaged %s, want scaffold-0.1.0.tgz", archive)
	}
	prov, err := os.ReadFile(archive + ".prov")
	if err != nil {
		t.Fatalf("package --sign wrote no provenance file: %v", err)
	}
	// Helm's format: a clear-signed message of Chart.yaml and the digests.
	for _, want := range []string{"-----BEGIN PGP SIGNED MESSAGE-----", "Hash: SHA512", "name: scaffold", "\n...\nfiles:\n  scaffold-0.1.0.tgz: " + fileDigest(t, archive)} {
		if !strings.Contains(string(prov), want) {
			t.Errorf("provenance file lacks %q:\n%s", want, prov)
		}
	}

	tampered := filepath.Join(t.TempDir(), "scaffold-0.1.0.tgz")
	copyFile(t, archive, tampered, true)
	copyFile(t, archive+".prov", tampered+".prov", false)
	unsigned := filepath.Join(t.TempDir(), "scaffold-0.1.0.tgz")
	copyFile(t, archive, unsigned, false)

	for _, tc := range []struct {
		name, archive, keyring string
		want                   string // an error, "" for success
		wantErr                error
	}{
		{name: "signed by a key of the keyring", archive: archive, keyring: jane.pubring},
		{name: "keyring of several keys", archive: archive, keyring: keyring(t, mallory, jane)},
		{name: "the secret keyring works too", archive: archive, keyring: jane.secring},
		{name: "one byte of the archive changed", archive: tampered, keyring: jane.pubring,
			want: fmt.Sprintf("sha256 sum does not match for scaffold-0.1.0.tgz: %q != %q", fileDigest(t, archive), fileDigest(t, tampered))},
		{name: "signed by a key not in the keyring", archive: archive, keyring: mallory.pubring,
			want: "openpgp: signature made by unknown entity", wantErr: pgperrors.ErrUnknownIssuer},
		{name: "no provenance file", archive: unsigned, keyring: jane.pubring,
			want: "could not load provenance file " + unsigned + ".prov"},
		{name: "no keyring", archive: archive, keyring: filepath.Join(t.TempDir(), "absent.gpg"),
			want: "failed to load keyring"},
		{name: "a chart directory", archive: scaffoldDir, keyring: jane.pubring,
			want: "unpacked charts cannot be verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Verify(ctx, tc.archive, tc.keyring)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v is not %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := v.Write(&out); err != nil {
				t.Fatal(err)
			}
			want := "Signed by: Jane Signer <jane@example.com>\n" +
				"Using Key With Fingerprint: " + jane.fingerprint() + "\n" +
				"Chart Hash Verified: " + fileDigest(t, tc.archive) + "\n"
			if out.String() != want {
				t.Errorf("verification:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

func TestProvenanceSigningKeys(t *testing.T) {
	jane := newTestKey(t, "Jane Signer", "jane@example.com", "")
	locked := newTestKey(t, "Locked Key", "locked@example.com", "correct horse")
	john := newTestKey(t, "John Signer", "john@example.com", "")
	both := keyring(t, jane, john)
	// A keyring of secret keys holding both.
	var sec []byte
	for _, k := range []testKey{jane, john} {
		b, err := os.ReadFile(k.secring)
		if err != nil {
			t.Fatal(err)
		}
		sec = append(sec, b...)
	}
	bothSecret := writeFile(t, filepath.Join(t.TempDir(), "secring.gpg"), string(sec))
	passFile := writeFile(t, filepath.Join(t.TempDir(), "pass"), "correct horse\n")
	wrongPass := writeFile(t, filepath.Join(t.TempDir(), "pass"), "battery staple\n")

	for _, tc := range []struct {
		name    string
		opts    SignOptions
		signer  testKey
		wantErr string
	}{
		{name: "whole identity", opts: SignOptions{Key: "Jane Signer <jane@example.com>", Keyring: jane.secring}, signer: jane},
		{name: "part of an identity", opts: SignOptions{Key: "john@", Keyring: bothSecret}, signer: john},
		{name: "passphrase file", opts: SignOptions{Key: "Locked Key", Keyring: locked.secring, PassphraseFile: passFile}, signer: locked},
		{name: "passphrase from stdin", opts: SignOptions{Key: "Locked Key", Keyring: locked.secring, PassphraseFile: "-", Stdin: strings.NewReader("correct horse")}, signer: locked},
		{name: "passphrase prompted", opts: SignOptions{Key: "Locked Key", Keyring: locked.secring,
			Prompt: func(name string) ([]byte, error) {
				if name != "Locked Key <locked@example.com>" {
					return nil, fmt.Errorf("prompted for %q", name)
				}
				return []byte("correct horse"), nil
			}}, signer: locked},
		{name: "passphrase file of an unencrypted key is still read", opts: SignOptions{Key: "jane", Keyring: jane.secring, PassphraseFile: passFile}, signer: jane},

		{name: "no --key", opts: SignOptions{Keyring: jane.secring}, wantErr: "--key is required for signing a package"},
		{name: "no --keyring", opts: SignOptions{Key: "jane"}, wantErr: "--keyring is required for signing a package"},
		{name: "no such keyring", opts: SignOptions{Key: "jane", Keyring: filepath.Join(t.TempDir(), "secring.gpg")}, wantErr: "no such file or directory"},
		{name: "no such key", opts: SignOptions{Key: "nobody", Keyring: jane.secring}, wantErr: "private key not found"},
		{name: "ambiguous key", opts: SignOptions{Key: "example.com", Keyring: bothSecret}, wantErr: `more than one key contain the id "example.com"`},
		{name: "public keyring", opts: SignOptions{Key: "jane", Keyring: both}, wantErr: "provided key is not a private key. Try providing a keyring with secret keys"},
		{name: "encrypted key without a passphrase", opts: SignOptions{Key: "Locked", Keyring: locked.secring}, wantErr: "pass --passphrase-file"},
		{name: "wrong passphrase", opts: SignOptions{Key: "Locked", Keyring: locked.secring, PassphraseFile: wrongPass}, wantErr: "private key checksum failure"},
		{name: "no such passphrase file", opts: SignOptions{Key: "Locked", Keyring: locked.secring, PassphraseFile: filepath.Join(t.TempDir(), "pass")}, wantErr: "no such file or directory"},
		{name: "stdin without input", opts: SignOptions{Key: "Locked", Keyring: locked.secring, PassphraseFile: "-"}, wantErr: "specified reading passphrase from stdin, without input on stdin"},
		{name: "empty passphrase file", opts: SignOptions{Key: "Locked", Keyring: locked.secring, PassphraseFile: writeFile(t, filepath.Join(t.TempDir(), "pass"), "")}, wantErr: "reading the passphrase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			archive, err := Package(context.Background(), scaffoldDir, PackageOptions{Destination: dest, Sign: true, SignOptions: tc.opts})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
				// The key is checked first: a refused signing writes nothing.
				if entries, _ := os.ReadDir(dest); len(entries) != 0 {
					t.Errorf("a refused signing left %v in the destination", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := Verify(context.Background(), archive, tc.signer.pubring)
			if err != nil {
				t.Fatalf("verifying what was signed: %v", err)
			}
			if v.Fingerprint != tc.signer.fingerprint() {
				t.Errorf("signed by %s, want %s", v.Fingerprint, tc.signer.fingerprint())
			}
		})
	}
}

// TestProvenanceSignArchive signs an archive that exists already, as
// `helm package --sign` does after saving.
func TestProvenanceSignArchive(t *testing.T) {
	ctx := context.Background()
	jane := newTestKey(t, "Jane Signer", "jane@example.com", "")
	archive, err := Package(ctx, scaffoldDir, PackageOptions{Destination: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(archive + ".prov"); err == nil {
		t.Fatal("package without --sign wrote a provenance file")
	}
	prov, err := Sign(ctx, archive, SignOptions{Key: "jane", Keyring: jane.secring})
	if err != nil {
		t.Fatal(err)
	}
	if prov != archive+".prov" {
		t.Errorf("provenance written to %s, want %s.prov", prov, archive)
	}
	if _, err := Verify(ctx, archive, jane.pubring); err != nil {
		t.Error(err)
	}
	if _, err := Sign(ctx, filepath.Dir(archive), SignOptions{Key: "jane", Keyring: jane.secring}); err == nil || !strings.Contains(err.Error(), "cannot sign a directory") {
		t.Errorf("signing a directory: %v", err)
	}
}

// signedRepo serves a chart repository of the scaffold chart signed by key;
// edit, when not nil, changes the served files after they are indexed.
func signedRepo(t *testing.T, key testKey, edit func(dir string)) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	archive := signedScaffold(t, key)
	copyFile(t, archive, filepath.Join(dir, filepath.Base(archive)), false)
	copyFile(t, archive+".prov", filepath.Join(dir, filepath.Base(archive)+".prov"), false)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(dir)
	}
	return srv
}

// TestProvenanceLoadVerify: Load with Verify refuses what `helm install
// --verify` refuses, for a local archive and one from a repository, and
// keeps no chart that failed.
func TestProvenanceLoadVerify(t *testing.T) {
	ctx := context.Background()
	jane := newTestKey(t, "Jane Signer", "jane@example.com", "")
	mallory := newTestKey(t, "Mallory", "mallory@example.net", "")
	local := signedScaffold(t, jane)
	tampered := filepath.Join(t.TempDir(), "scaffold-0.1.0.tgz")
	copyFile(t, local, tampered, true)
	copyFile(t, local+".prov", tampered+".prov", false)

	good := signedRepo(t, jane, nil)
	noProv := signedRepo(t, jane, func(dir string) {
		if err := os.Remove(filepath.Join(dir, "scaffold-0.1.0.tgz.prov")); err != nil {
			t.Fatal(err)
		}
	})
	tamperedRepo := signedRepo(t, jane, func(dir string) {
		path := filepath.Join(dir, "scaffold-0.1.0.tgz")
		copyFile(t, path, path, true)
	})

	for _, tc := range []struct {
		name, repoURL, ref, keyring string
		verify                      bool
		want                        string
	}{
		{name: "local archive", ref: local, keyring: jane.pubring, verify: true},
		{name: "local archive, not verified", ref: local, keyring: mallory.pubring},
		{name: "local archive tampered with", ref: tampered, keyring: jane.pubring, verify: true, want: "sha256 sum does not match for scaffold-0.1.0.tgz"},
		{name: "local archive, unknown signer", ref: local, keyring: mallory.pubring, verify: true, want: "openpgp: signature made by unknown entity"},
		{name: "chart directory", ref: scaffoldDir, keyring: jane.pubring, verify: true, want: "unpacked charts cannot be verified"},
		{name: "repository", repoURL: good.URL, ref: "signed/scaffold", keyring: jane.pubring, verify: true},
		{name: "repository, unknown signer", repoURL: good.URL, ref: "signed/scaffold", keyring: mallory.pubring, verify: true, want: "openpgp: signature made by unknown entity"},
		{name: "repository without provenance", repoURL: noProv.URL, ref: "signed/scaffold", keyring: jane.pubring, verify: true,
			want: fmt.Sprintf("failed to fetch provenance %q", noProv.URL+"/scaffold-0.1.0.tgz.prov")},
		{name: "repository without provenance, not verified", repoURL: noProv.URL, ref: "signed/scaffold", keyring: jane.pubring},
		{name: "repository serving a tampered archive", repoURL: tamperedRepo.URL, ref: "signed/scaffold", keyring: jane.pubring, verify: true, want: "sha256 sum does not match for scaffold-0.1.0.tgz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			settings := testSettings(t)
			if tc.repoURL != "" {
				if err := AddRepo(ctx, &bytes.Buffer{}, settings, RepoAddOptions{Name: "signed", URL: tc.repoURL}); err != nil {
					t.Fatal(err)
				}
			}
			ch, err := Load(ctx, tc.ref, LoadOptions{Settings: settings, Verify: tc.verify, Keyring: tc.keyring})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ch.Name() != "scaffold" {
					t.Errorf("loaded %s, want scaffold", ch.Name())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.repoURL != "" {
				// Nothing that failed stays in the cache to be used later.
				cached := filepath.Join(settings.RepositoryCache, "scaffold-0.1.0.tgz")
				for _, p := range []string{cached, cached + ".prov"} {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("%s is left in the cache", filepath.Base(p))
					}
				}
			}
		})
	}
}

// TestProvenancePull: pull --verify prints what `helm pull --verify` prints
// and keeps nothing that fails; --prov fetches the provenance file unchecked.
func TestProvenancePull(t *testing.T) {
	ctx := context.Background()
	jane := newTestKey(t, "Jane Signer", "jane@example.com", "")
	mallory := newTestKey(t, "Mallory", "mallory@example.net", "")
	srv := signedRepo(t, jane, nil)
	settings := testSettings(t)
	if err := AddRepo(ctx, &bytes.Buffer{}, settings, RepoAddOptions{Name: "signed", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		opts     PullOptions
		wantOut  bool // the verification is printed
		wantProv bool
		wantErr  string
	}{
		{name: "verify", opts: PullOptions{LoadOptions: LoadOptions{Verify: true, Keyring: jane.pubring}}, wantOut: true, wantProv: true},
		{name: "prov", opts: PullOptions{Prov: true, LoadOptions: LoadOptions{Keyring: mallory.pubring}}, wantProv: true},
		{name: "neither", opts: PullOptions{}},
		{name: "verify, unknown signer", opts: PullOptions{LoadOptions: LoadOptions{Verify: true, Keyring: mallory.pubring}}, wantErr: "openpgp: signature made by unknown entity"},
		{name: "verify and untar", opts: PullOptions{Untar: true, LoadOptions: LoadOptions{Verify: true, Keyring: jane.pubring}}, wantOut: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			dest := t.TempDir()
			tc.opts.Settings, tc.opts.Out, tc.opts.Destination = settings, &out, dest
			path, err := Pull(ctx, "signed/scaffold", tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if entries, _ := os.ReadDir(dest); len(entries) != 0 {
					t.Errorf("a chart that failed verification was kept: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.opts.Untar {
				if _, err := os.Stat(filepath.Join(path, "Chart.yaml")); err != nil {
					t.Errorf("not unpacked: %v", err)
				}
			}
			want := ""
			if tc.wantOut {
				want = "Signed by: Jane Signer <jane@example.com>\nUsing Key With Fingerprint: " + jane.fingerprint() + "\nChart Hash Verified: sha256:"
			}
			if !strings.HasPrefix(out.String(), want) || (want == "" && strings.Contains(out.String(), "Signed by")) {
				t.Errorf("pull printed:\n%s\nwant it to start with:\n%s", out.String(), want)
			}
			_, err = os.Stat(filepath.Join(dest, "scaffold-0.1.0.tgz.prov"))
			if got := err == nil; got != tc.wantProv {
				t.Errorf("provenance file kept: %v, want %v", got, tc.wantProv)
			}
		})
	}
}

func TestProvenanceDefaultKeyring(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"home", map[string]string{"HOME": "/home/jane"}, "/home/jane/.gnupg/pubring.gpg"},
		{"GNUPGHOME wins", map[string]string{"HOME": "/home/jane", "GNUPGHOME": "/keys"}, "/keys/pubring.gpg"},
		{"GNUPGHOME set but empty", map[string]string{"HOME": "/home/jane", "GNUPGHOME": ""}, "pubring.gpg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := KeyringFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got != tc.want {
				t.Errorf("keyring %s, want %s", got, tc.want)
			}
		})
	}
}

package chart

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/provenance"
)

// Provenance files are Helm's: NAME-VERSION.tgz.prov beside the archive, an
// OpenPGP clear-signed message holding the chart's metadata and the archive's
// SHA-256. The crypto and the file format are Helm's own (pkg/provenance,
// pkg/downloader), so that charts signed by either tool verify with the other.

// ProvenanceSuffix is appended to an archive's path to name its provenance file.
const ProvenanceSuffix = ".prov"

// DefaultKeyring is where Helm, and so berth, looks for OpenPGP keys when
// --keyring is not given: $GNUPGHOME/pubring.gpg, else
// $HOME/.gnupg/pubring.gpg.
func DefaultKeyring() string {
	return KeyringFromEnv(os.LookupEnv)
}

// KeyringFromEnv is DefaultKeyring reading the environment through lookup.
func KeyringFromEnv(lookup func(string) (string, bool)) string {
	// Helm tests GNUPGHOME for presence, not emptiness; so does berth.
	if dir, ok := lookup("GNUPGHOME"); ok {
		return filepath.Join(dir, "pubring.gpg")
	}
	home, _ := lookup("HOME")
	return filepath.Join(home, ".gnupg", "pubring.gpg")
}

// SignOptions say which OpenPGP key signs a chart archive, as the flags of
// `helm package --sign`.
type SignOptions struct {
	// Key names the signing key: an identity of it ("Jane <jane@example.com>")
	// or a unique part of one.
	Key string
	// Keyring is the keyring holding the secret key (a file as gpg
	// --export-secret-keys writes it).
	Keyring string
	// PassphraseFile holds the key's passphrase on its first line; "-" reads
	// it from Stdin. Helm reads it whenever it is set, encrypted key or not.
	PassphraseFile string
	// Stdin is read for PassphraseFile "-"; nil means there is no input
	// there (a terminal, say), which is an error then.
	Stdin io.Reader
	// Prompt asks for the passphrase of an encrypted key named keyName when
	// there is no PassphraseFile; nil refuses encrypted keys without one.
	Prompt func(keyName string) ([]byte, error)
}

// LoadSigner loads the secret key and decrypts it, reading the passphrase
// once: what several archives are signed with (PackageOptions.Signer).
func (o SignOptions) LoadSigner() (*provenance.Signatory, error) { return o.signer() }

// signer loads the secret key and decrypts it. It runs before anything is
// written, so a wrong key or passphrase leaves no archive behind.
func (o SignOptions) signer() (*provenance.Signatory, error) {
	// Helm's messages, flag names and all, as `helm package --sign` checks.
	if o.Key == "" {
		return nil, errors.New("--key is required for signing a package")
	}
	if o.Keyring == "" {
		return nil, errors.New("--keyring is required for signing a package")
	}
	s, err := provenance.NewFromKeyring(o.Keyring, o.Key)
	if err != nil {
		return nil, fmt.Errorf("loading the signing key %q from %s: %w", o.Key, o.Keyring, err)
	}
	fetch := o.Prompt
	if fetch == nil {
		fetch = func(name string) ([]byte, error) {
			return nil, fmt.Errorf("key %q is protected by a passphrase: pass --passphrase-file (\"-\" reads it from stdin)", name)
		}
	}
	if o.PassphraseFile != "" {
		pass, err := o.readPassphrase()
		if err != nil {
			return nil, err
		}
		fetch = func(string) ([]byte, error) { return pass, nil }
	}
	if err := s.DecryptKey(fetch); err != nil {
		return nil, fmt.Errorf("using the signing key %q of %s: %w", o.Key, o.Keyring, err)
	}
	return s, nil
}

// readPassphrase reads the first line of PassphraseFile (or Stdin), without
// its line ending, as Helm does.
func (o SignOptions) readPassphrase() ([]byte, error) {
	var r io.Reader
	if o.PassphraseFile == "-" {
		if o.Stdin == nil {
			return nil, errors.New("specified reading passphrase from stdin, without input on stdin")
		}
		r = o.Stdin
	} else {
		f, err := os.Open(o.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return nil, fmt.Errorf("reading the passphrase from %s: %w", o.PassphraseFile, err)
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// Sign writes archive's provenance file (archive + ".prov") signed with the
// key opts name, as `helm package --sign` does, and returns its path.
func Sign(ctx context.Context, archive string, opts SignOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s, err := opts.signer()
	if err != nil {
		return "", err
	}
	return writeProvenance(s, archive)
}

func writeProvenance(s *provenance.Signatory, archive string) (string, error) {
	sig, err := s.ClearSign(archive)
	if err != nil {
		return "", fmt.Errorf("signing %s: %w", archive, err)
	}
	prov := archive + ProvenanceSuffix
	if err := os.WriteFile(prov, []byte(sig), 0o644); err != nil {
		return "", fmt.Errorf("writing the provenance file: %w", err)
	}
	return prov, nil
}

// Verification is what verifying a chart archive proved.
type Verification struct {
	// SignedBy are the identities of the key that signed it, sorted.
	SignedBy []string
	// Fingerprint is that key's fingerprint, in upper-case hex.
	Fingerprint string
	// FileHash is the archive's digest, "sha256:HEX".
	FileHash string
	// FileName is the archive's base name, as the provenance file names it.
	FileName string
}

// Write prints v as `helm verify` and `helm pull --verify` do.
func (v *Verification) Write(w io.Writer) error {
	var b strings.Builder
	for _, name := range v.SignedBy {
		fmt.Fprintf(&b, "Signed by: %s\n", name)
	}
	fmt.Fprintf(&b, "Using Key With Fingerprint: %s\n", v.Fingerprint)
	fmt.Fprintf(&b, "Chart Hash Verified: %s\n", v.FileHash)
	_, err := io.WriteString(w, b.String())
	return err
}

// Verify checks archive against its provenance file (archive + ".prov"):
// signed by a key of keyring, and the archive's digest the one signed. Its
// errors are Helm's own, word for word ("sha256 sum does not match for ...",
// "openpgp: signature made by unknown entity", "could not load provenance
// file ..."), since they already name what failed and scripts match them.
func Verify(ctx context.Context, archive, keyring string) (*Verification, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, err := downloader.VerifyChart(archive, keyring)
	if err != nil {
		return nil, err
	}
	return newVerification(v), nil
}

// newVerification turns Helm's result into berth's, which callers can use
// without importing OpenPGP.
func newVerification(v *provenance.Verification) *Verification {
	if v == nil || v.SignedBy == nil {
		return nil
	}
	out := &Verification{FileHash: v.FileHash, FileName: v.FileName}
	for name := range v.SignedBy.Identities {
		out.SignedBy = append(out.SignedBy, name)
	}
	// Helm prints them in map order; sorted, the output is stable.
	slices.Sort(out.SignedBy)
	if pk := v.SignedBy.PrimaryKey; pk != nil {
		out.Fingerprint = fmt.Sprintf("%X", pk.Fingerprint)
	}
	return out
}

// verifyStrategy is the strategy of Helm's chart downloader that opts ask for.
func (o LoadOptions) verifyStrategy() downloader.VerificationStrategy {
	if o.Verify {
		return downloader.VerifyAlways
	}
	return downloader.VerifyNever
}

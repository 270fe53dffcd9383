package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// signingKey is an OpenPGP key made for one test: its secret keyring, its
// public keyring, and what `helm verify` prints of it.
type signingKey struct {
	secring, pubring string
	identity         string
	fingerprint      string
}

// newSigningKey makes an Ed25519 key for name <email>, encrypted with
// passphrase when not empty, with its keyrings in a directory of the test's.
func newSigningKey(t *testing.T, name, email, passphrase string) signingKey {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pub, sec bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.SerializePrivateWithoutSigning(&sec, nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	k := signingKey{
		secring: filepath.Join(dir, "secring.gpg"), pubring: filepath.Join(dir, "pubring.gpg"),
		identity: fmt.Sprintf("%s <%s>", name, email), fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
	}
	for path, b := range map[string][]byte{k.secring: sec.Bytes(), k.pubring: pub.Bytes()} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// verifyOutput is what `helm verify` prints for archive signed by k.
func (k signingKey) verifyOutput(t *testing.T, archive string) string {
	t.Helper()
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "Signed by: " + k.identity + "\nUsing Key With Fingerprint: " + k.fingerprint +
		"\nChart Hash Verified: sha256:" + hex.EncodeToString(sum[:]) + "\n"
}

// tamper copies archive and its provenance file into a new directory, with
// one byte of the archive changed, and returns the copy's path.
func tamper(t *testing.T, archive string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(archive))
	for _, suffix := range []string{"", ".prov"} {
		b, err := os.ReadFile(archive + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "" {
			b[len(b)/2] ^= 0xff
		}
		if err := os.WriteFile(dst+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// berthStdin runs berth with stdin and extra environment, and returns its
// standard output, standard error and error.
func (c *chartTools) berthStdin(stdin string, env []string, args ...string) (string, string, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append([]string{}, c.env...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	return out.String(), stderr.String(), err
}

// TestProvenanceCommands: berth package --sign and berth verify, with Helm's
// flags, output and error messages.
func TestProvenanceCommands(t *testing.T) {
	tools := newChartTools(t)
	jane := newSigningKey(t, "Jane Signer", "jane@example.com", "")
	locked := newSigningKey(t, "Locked Key", "locked@example.com", "correct horse")
	mallory := newSigningKey(t, "Mallory", "mallory@example.net", "")
	dir := t.TempDir()

	out := tools.berth("package", testChart(t), "-d", dir, "--sign", "--key", "jane@example.com", "--keyring", jane.secring)
	archive := filepath.Join(dir, "app-0.1.0.tgz")
	if want := "Successfully packaged chart and saved it to: " + archive + "\n"; out != want {
		t.Errorf("berth package --sign said %q, want %q", out, want)
	}
	unsigned := filepath.Join(t.TempDir(), "app-0.1.0.tgz")
	tools.berth("package", testChart(t), "-d", filepath.Dir(unsigned))
	tampered := tamper(t, archive)
	gnupgHome := filepath.Dir(jane.pubring)

	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		env   []string
		// want is the whole standard output on success; wantErr is in the
		// standard error of a failure.
		want, wantErr string
	}{
		{name: "verify", args: []string{"verify", archive, "--keyring", jane.pubring}, want: jane.verifyOutput(t, archive)},
		{name: "verify with the keyring of $GNUPGHOME", args: []string{"verify", archive}, env: []string{"GNUPGHOME=" + gnupgHome}, want: jane.verifyOutput(t, archive)},
		{name: "verify a tampered archive", args: []string{"verify", tampered, "--keyring", jane.pubring},
			wantErr: "Error: sha256 sum does not match for app-0.1.0.tgz: \"sha256:"},
		{name: "verify with a keyring lacking the signer", args: []string{"verify", archive, "--keyring", mallory.pubring},
			wantErr: "Error: openpgp: signature made by unknown entity\n"},
		{name: "verify without a provenance file", args: []string{"verify", unsigned, "--keyring", jane.pubring},
			wantErr: "Error: could not load provenance file " + unsigned + ".prov"},
		{name: "verify needs a path", args: []string{"verify"}, wantErr: "accepts 1 arg(s), received 0"},
		{name: "sign with a passphrase from stdin", args: []string{"package", testChart(t), "-d", t.TempDir(), "--sign", "--key", "Locked", "--keyring", locked.secring, "--passphrase-file", "-"},
			stdin: "correct horse\n", want: "Successfully packaged chart"},
		{name: "sign two charts with one passphrase from stdin", args: []string{"package", testChart(t), testChart(t), "-d", t.TempDir(), "--sign", "--key", "Locked", "--keyring", locked.secring, "--passphrase-file", "-"},
			stdin: "correct horse\n", want: "Successfully packaged chart"},
		{name: "sign with a wrong passphrase", args: []string{"package", testChart(t), "-d", t.TempDir(), "--sign", "--key", "Locked", "--keyring", locked.secring, "--passphrase-file", "-"},
			stdin: "battery staple\n", wantErr: "private key checksum failure"},
		{name: "sign an encrypted key without a passphrase", args: []string{"package", testChart(t), "-d", t.TempDir(), "--sign", "--key", "Locked", "--keyring", locked.secring},
			wantErr: "pass --passphrase-file"},
		{name: "sign without --key", args: []string{"package", testChart(t), "-d", t.TempDir(), "--sign", "--keyring", jane.secring},
			wantErr: "Error: --key is required for signing a package\n"},
		{name: "sign without a keyring", args: []string{"package", testChart(t), "-d", t.TempDir(), "--sign", "--key", "jane", "--keyring", ""},
			wantErr: "Error: --keyring is required for signing a package\n"},
		{name: "sign with a public keyring", args: []string{"package", testChart(t), "-d", t.TempDir(), "--sign", "--key", "jane", "--keyring", jane.pubring},
			wantErr: "provided key is not a private key. Try providing a keyring with secret keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := tools.berthStdin(tc.stdin, tc.env, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tc.wantErr) {
					t.Fatalf("berth %v: %v, stderr %q, want an error containing %q", tc.args, err, stderr, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("berth %v: %v\n%s%s", tc.args, err, out, stderr)
			}
			if tc.args[0] == "package" {
				if !strings.HasPrefix(out, tc.want) {
					t.Errorf("berth %v said %q, want %q", tc.args, out, tc.want)
				}
				return
			}
			if out != tc.want {
				t.Errorf("berth %v said:\n%s\nwant:\n%s", tc.args, out, tc.want)
			}
		})
	}

	// Helm's flags and help.
	for cmd, flags := range map[string][]string{
		"package": {"--sign ", "use a PGP private key to sign this package", "--key string", "--keyring string", "--passphrase-file string", "location of a public keyring"},
		"verify":  {"--keyring string", "keyring containing public keys", "Verify that the given chart has a valid provenance file."},
		"install": {"--verify ", "verify the package before using it", "--keyring string", "location of public keys used for verification"},
		"upgrade": {"--verify ", "--keyring string"},
		"pull":    {"--verify ", "--prov ", "fetch the provenance file, but don't perform verification", "--keyring string"},
	} {
		help, _, err := tools.berthStdin("", []string{"GNUPGHOME=/keys"}, cmd, "--help")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(flags, `(default "/keys/pubring.gpg")`) {
			if !strings.Contains(help, f) {
				t.Errorf("berth %s --help lacks %q:\n%s", cmd, f, help)
			}
		}
	}
}

// TestProvenanceHelmCompatible: a chart berth signs verifies with the real
// `helm verify`, one `helm package --sign` signs verifies with berth, and
// both print and refuse alike.
func TestProvenanceHelmCompatible(t *testing.T) {
	tools := newChartTools(t)
	jane := newSigningKey(t, "Jane Signer", "jane@example.com", "")
	mallory := newSigningKey(t, "Mallory", "mallory@example.net", "")
	berthDir, helmDir := t.TempDir(), t.TempDir()
	tools.berth("package", testChart(t), "-d", berthDir, "--version", "1.0.0", "--sign", "--key", "Jane Signer", "--keyring", jane.secring)
	tools.helmRun("package", testChart(t), "-d", helmDir, "--version", "2.0.0", "--sign", "--key", "Jane Signer", "--keyring", jane.secring)
	byBerth, byHelm := filepath.Join(berthDir, "app-1.0.0.tgz"), filepath.Join(helmDir, "app-2.0.0.tgz")

	for _, archive := range []string{byBerth, byHelm} {
		want := jane.verifyOutput(t, archive)
		for name, bin := range map[string]string{"berth": os.Args[0], "helm": tools.helm} {
			if got := tools.run(bin, "verify", archive, "--keyring", jane.pubring); got != want {
				t.Errorf("%s verify %s:\n%s\nwant:\n%s", name, filepath.Base(archive), got, want)
			}
		}
		for _, tc := range []struct{ name, archive, keyring string }{
			{"tampered", tamper(t, archive), jane.pubring},
			{"unknown signer", archive, mallory.pubring},
		} {
			_, berthErr := tools.result(os.Args[0], "verify", tc.archive, "--keyring", tc.keyring)
			_, helmErr := tools.result(tools.helm, "verify", tc.archive, "--keyring", tc.keyring)
			if berthErr == nil || helmErr == nil {
				t.Fatalf("%s %s: berth %v, helm %v; want both to fail", filepath.Base(archive), tc.name, berthErr, helmErr)
			}
			if got, want := errorLine(berthErr), errorLine(helmErr); got != want {
				t.Errorf("%s %s: berth says %q, helm %q", filepath.Base(archive), tc.name, got, want)
			}
		}
	}

	// pull --verify from a chart repository prints alike, and both keep
	// the provenance file beside the chart.
	srv := httptest.NewServer(http.FileServer(http.Dir(berthDir)))
	defer srv.Close()
	tools.berth("repo", "index", berthDir, "--url", srv.URL)
	tools.berth("repo", "add", "signed", srv.URL)
	tools.helmRun("repo", "add", "signed", srv.URL)
	berthPull, helmPull := t.TempDir(), t.TempDir()
	got := tools.berth("pull", "signed/app", "--verify", "--keyring", jane.pubring, "-d", berthPull)
	want := tools.helmRun("pull", "signed/app", "--verify", "--keyring", jane.pubring, "-d", helmPull)
	if got != want || want != jane.verifyOutput(t, byBerth) {
		t.Errorf("berth pull --verify said:\n%s\nhelm pull --verify:\n%s", got, want)
	}
	sameFile(t, filepath.Join(berthPull, "app-1.0.0.tgz.prov"), filepath.Join(helmPull, "app-1.0.0.tgz.prov"))
}

// errorLine is the "Error: ..." line of a command's failure report.
func errorLine(err error) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, "Error: ") {
			return line
		}
	}
	return err.Error()
}

// TestProvenanceInstallVerify: install and upgrade --verify refuse a chart
// that fails verification before they reach the cluster, and deploy one
// that passes.
func TestProvenanceInstallVerify(t *testing.T) {
	tools := newChartTools(t)
	jane := newSigningKey(t, "Jane Signer", "jane@example.com", "")
	dir := t.TempDir()
	tools.berth("package", testChart(t), "-d", dir, "--sign", "--key", "jane", "--keyring", jane.secring)
	archive := filepath.Join(dir, "app-0.1.0.tgz")
	tampered := tamper(t, archive)
	unsigned := filepath.Join(t.TempDir(), "app-0.1.0.tgz")
	tools.berth("package", testChart(t), "-d", filepath.Dir(unsigned))

	// No cluster at all: the chart is refused before one is looked for.
	noCluster := []string{"--kubeconfig", filepath.Join(t.TempDir(), "absent.yaml")}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"install, tampered", []string{"install", "rel", tampered, "--verify", "--keyring", jane.pubring}, "sha256 sum does not match for app-0.1.0.tgz"},
		{"install, unsigned", []string{"install", "rel", unsigned, "--verify", "--keyring", jane.pubring}, "could not load provenance file " + unsigned + ".prov"},
		{"install, chart directory", []string{"install", "rel", testChart(t), "--verify", "--keyring", jane.pubring}, "unpacked charts cannot be verified"},
		{"upgrade, tampered", []string{"upgrade", "rel", tampered, "--verify", "--keyring", jane.pubring}, "sha256 sum does not match for app-0.1.0.tgz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := tools.berthStdin("", nil, append(tc.args, noCluster...)...)
			if err == nil || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("berth %v: %v, stderr %q, want an error containing %q", tc.args, err, stderr, tc.wantErr)
			}
		})
	}

	c := sharedCluster.get(t)
	ns := c.namespace(t)
	if _, stderr, err := c.berthResult("install", "signed", tampered, "--verify", "--keyring", jane.pubring, "-n", ns); err == nil || !strings.Contains(stderr, "sha256 sum does not match") {
		t.Fatalf("install --verify of a tampered chart: %v\n%s", err, stderr)
	}
	if got := c.berth(t, "list", "-n", ns, "-q"); strings.TrimSpace(got) != "" {
		t.Fatalf("a refused install left releases: %q", got)
	}
	c.berth(t, "install", "signed", archive, "--verify", "--keyring", jane.pubring, "-n", ns)
	if _, stderr, err := c.berthResult("upgrade", "signed", unsigned, "--verify", "--keyring", jane.pubring, "-n", ns); err == nil || !strings.Contains(stderr, "could not load provenance file") {
		t.Fatalf("upgrade --verify of an unsigned chart: %v\n%s", err, stderr)
	}
	c.berth(t, "upgrade", "signed", archive, "--verify", "--keyring", jane.pubring, "-n", ns)
	if got := c.history(t, ns, "signed"); len(got) != 2 {
		t.Errorf("history after a verified install and upgrade, one refused: %v, want 2 revisions", got)
	}
}

// TestProvenanceOCI: a signed chart pushed to an OCI registry carries its
// provenance as a layer, which pull and install --verify fetch and check as
// Helm does; a chart pushed without one fails verification.
func TestProvenanceOCI(t *testing.T) {
	tools := newChartTools(t)
	jane := newSigningKey(t, "Jane Signer", "jane@example.com", "")
	host := serveTestRegistry(t, "")
	remote := "oci://" + host + "/charts"
	signed, unsigned := t.TempDir(), t.TempDir()
	tools.berth("package", testChart(t), "-d", signed, "--version", "1.0.0", "--sign", "--key", "jane", "--keyring", jane.secring)
	tools.berth("package", testChart(t), "-d", unsigned, "--version", "2.0.0")
	tools.berth("push", filepath.Join(signed, "app-1.0.0.tgz"), remote, "--plain-http")
	tools.berth("push", filepath.Join(unsigned, "app-2.0.0.tgz"), remote, "--plain-http")

	berthPull, helmPull := t.TempDir(), t.TempDir()
	pull := []string{"pull", remote + "/app", "--version", "1.0.0", "--plain-http", "--verify", "--keyring", jane.pubring}
	got := tools.berth(append(pull, "-d", berthPull)...)
	want := tools.helmRun(append(pull, "-d", helmPull)...)
	// Helm's registry client reports the pull on stdout too: compare the
	// verification's lines.
	if v := jane.verifyOutput(t, filepath.Join(signed, "app-1.0.0.tgz")); !strings.HasSuffix(got, v) || !strings.HasSuffix(want, v) {
		t.Errorf("pull --verify from oci://: berth said:\n%s\nhelm:\n%s\nwant both to end with:\n%s", got, want, v)
	}
	sameFile(t, filepath.Join(berthPull, "app-1.0.0.tgz.prov"), filepath.Join(signed, "app-1.0.0.tgz.prov"))

	missing := fmt.Sprintf("failed to fetch provenance %q", remote+"/app:2.0.0.prov")
	for name, bin := range map[string]string{"berth": os.Args[0], "helm": tools.helm} {
		_, err := tools.result(bin, "pull", remote+"/app", "--version", "2.0.0", "--plain-http", "--verify", "--keyring", jane.pubring, "-d", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("%s pull --verify of a chart without provenance: %v, want %q", name, err, missing)
		}
	}
	_, stderr, err := tools.berthStdin("", nil, "install", "rel", remote+"/app", "--version", "2.0.0", "--plain-http", "--verify", "--keyring", jane.pubring,
		"--kubeconfig", filepath.Join(t.TempDir(), "absent.yaml"))
	if err == nil || !strings.Contains(stderr, missing) {
		t.Errorf("install --verify from oci:// without provenance: %v, stderr %q, want %q", err, stderr, missing)
	}
}

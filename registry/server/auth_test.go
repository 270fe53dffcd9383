package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// writeHtpasswd writes an htpasswd file with user:password.
func writeHtpasswd(t *testing.T, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte("# users\n"+user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHtpasswd(t *testing.T) {
	t.Parallel()
	r := start(t, Config{Htpasswd: writeHtpasswd(t, "alice", "s3cret")})
	basic := func(user, password string) http.Header {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, password)
		return req.Header
	}
	subject := digest.FromString("x").String()
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"base without credentials", "/v2/", nil, http.StatusUnauthorized},
		{"base with credentials", "/v2/", basic("alice", "s3cret"), http.StatusOK},
		{"base with a wrong password", "/v2/", basic("alice", "nope"), http.StatusUnauthorized},
		{"unknown user", "/v2/", basic("bob", "s3cret"), http.StatusUnauthorized},
		{"tags without credentials", "/v2/app/tags/list", nil, http.StatusUnauthorized},
		{"referrers without credentials", "/v2/app/referrers/" + subject, nil, http.StatusUnauthorized},
		{"referrers with credentials", "/v2/app/referrers/" + subject, basic("alice", "s3cret"), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := r.do(http.MethodGet, c.path, nil, c.header)
			if resp.StatusCode != c.status {
				t.Fatalf("%s, want %d: %s", resp.Status, c.status, body)
			}
			if c.status == http.StatusUnauthorized {
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic realm=") {
					t.Errorf("WWW-Authenticate %q, want a Basic challenge", got)
				}
				if code := errorCode(t, body); code != "UNAUTHORIZED" {
					t.Errorf("code %s, want UNAUTHORIZED", code)
				}
			}
		})
	}

	// oras with the credentials pushes and pulls.
	repo := r.repo("app")
	repo.Client = &auth.Client{
		Client:     &http.Client{Timeout: 30 * time.Second},
		Credential: auth.StaticCredential(r.host, auth.Credential{Username: "alice", Password: "s3cret"}),
	}
	img := pushImage(t, repo, "v1")
	if b := fetchAll(t, repo, img.layer); !bytes.Equal(b, img.layerData) {
		t.Error("layer pulled with credentials differs")
	}
	if _, err := r.repo("app").Resolve(t.Context(), "v1"); err == nil {
		t.Error("resolved a tag without credentials")
	}
}

func TestHtpasswdRefusesNonBcrypt(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"sha1":     "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
		"no users": "# nobody\n",
		"no colon": "alice\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "htpasswd")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if s, err := New(t.Context(), Config{Root: t.TempDir(), Addr: "127.0.0.1:0", Htpasswd: p}); err == nil {
				s.release()
				t.Fatal("New accepted it")
			}
		})
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "berth-registry-test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	r := start(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	repo, err := remote.NewRepository(r.host + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	repo.Client = &auth.Client{Client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
	}}
	img := pushImage(t, repo, "v1")
	if got, err := repo.Resolve(t.Context(), "v1"); err != nil || got.Digest != img.manifest.Digest {
		t.Fatalf("resolving over TLS: %v %v", got.Digest, err)
	}
	if b := fetchAll(t, repo, img.layer); !bytes.Equal(b, img.layerData) {
		t.Error("layer pulled over TLS differs")
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + r.host + "/v2/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was served on the TLS port")
		}
	}
}

func TestRunReleasesOnShutdown(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	r := start(t, Config{Root: root})
	pushImage(t, r.repo("app"), "v1")
	if _, err := New(t.Context(), Config{Root: root, Addr: r.host, Log: slog.New(newRecorder())}); err == nil {
		t.Fatal("a second server bound the same address")
	}
	r.stop()
	s, err := New(t.Context(), Config{Root: root, Addr: r.host, Log: slog.New(newRecorder())})
	if err != nil {
		t.Errorf("the address or the root is still held after Run returned: %v", err)
	} else {
		s.release()
	}
	if _, err := GC(t.Context(), root, GCOptions{DryRun: true, Log: slog.New(newRecorder())}); err != nil {
		t.Errorf("gc after the server stopped: %v", err)
	}
}

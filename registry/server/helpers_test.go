package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// testRegistry is a Server running for one test.
type testRegistry struct {
	t    *testing.T
	host string // 127.0.0.1:port
	root string
	logs *recorder
	stop func()
}

// start runs a server on a free loopback port until the test ends (or stop).
func start(t *testing.T, cfg Config) *testRegistry {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	rec := newRecorder()
	cfg.Log = slog.New(rec)
	s, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testRegistry{t: t, host: s.Addr().String(), root: cfg.Root, logs: rec, stop: stop}
}

// repo is an oras client for repository name.
func (r *testRegistry) repo(name string) *remote.Repository {
	r.t.Helper()
	repo, err := remote.NewRepository(r.host + "/" + name)
	if err != nil {
		r.t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Client: &http.Client{Timeout: 30 * time.Second}}
	return repo
}

// url is the registry's URL for path (which may hold a query).
func (r *testRegistry) url(path string) string { return "http://" + r.host + path }

// do sends a raw request and returns the response with its body read.
func (r *testRegistry) do(method, target string, body []byte, header http.Header) (*http.Response, []byte) {
	r.t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = r.url(target)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return resp, b
}

// resolve makes a Location header absolute.
func (r *testRegistry) resolve(loc string) string {
	r.t.Helper()
	u, err := url.Parse(r.url("/"))
	if err != nil {
		r.t.Fatal(err)
	}
	l, err := u.Parse(loc)
	if err != nil {
		r.t.Fatalf("bad Location %q: %v", loc, err)
	}
	return l.String()
}

// startUpload opens an upload session in repo and returns its absolute URL.
func (r *testRegistry) startUpload(repo string) string {
	r.t.Helper()
	resp, body := r.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		r.t.Fatalf("POST upload: %s %s", resp.Status, body)
	}
	return r.resolve(resp.Header.Get("Location"))
}

// blobFile is where storage keeps blob d's content.
func (r *testRegistry) blobFile(d digest.Digest) string {
	return filepath.Join(r.root, "docker/registry/v2/blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded(), "data")
}

// blobFiles lists every blob content file in storage.
func (r *testRegistry) blobFiles() []string {
	r.t.Helper()
	var files []string
	dir := filepath.Join(r.root, "docker/registry/v2/blobs")
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return files
}

// errorCode is the first code of a spec error body.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not a registry error body: %q", body)
	}
	return e.Errors[0].Code
}

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pushBlob pushes data to repo and returns its descriptor.
func pushBlob(t *testing.T, repo *remote.Repository, mediaType string, data []byte) v1.Descriptor {
	t.Helper()
	desc := content.NewDescriptorFromBytes(mediaType, data)
	if err := repo.Push(t.Context(), desc, bytes.NewReader(data)); err != nil {
		t.Fatalf("pushing blob: %v", err)
	}
	return desc
}

// image is a pushed image's descriptors.
type image struct {
	manifest, config, layer v1.Descriptor
	layerData               []byte
}

// pushImage pushes a one-layer image to repo and tags it (unless tag is "").
func pushImage(t *testing.T, repo *remote.Repository, tag string) image {
	t.Helper()
	var img image
	img.config = pushBlob(t, repo, v1.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"n":"`+rand.Text()+`"}`))
	img.layerData = randomBytes(t, 4096)
	img.layer = pushBlob(t, repo, v1.MediaTypeImageLayerGzip, img.layerData)
	var err error
	img.manifest, err = oras.PackManifest(t.Context(), repo, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		ConfigDescriptor: &img.config,
		Layers:           []v1.Descriptor{img.layer},
	})
	if err != nil {
		t.Fatalf("pushing manifest: %v", err)
	}
	if tag != "" {
		if err := repo.Tag(t.Context(), img.manifest, tag); err != nil {
			t.Fatalf("tagging: %v", err)
		}
	}
	return img
}

// pushReferrer pushes an artifact of artifactType whose subject is subject.
func pushReferrer(t *testing.T, repo *remote.Repository, subject v1.Descriptor, artifactType string) v1.Descriptor {
	t.Helper()
	layer := pushBlob(t, repo, "application/octet-stream", []byte("about "+subject.Digest.String()+" "+rand.Text()))
	desc, err := oras.PackManifest(t.Context(), repo, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{
		Subject:             &subject,
		Layers:              []v1.Descriptor{layer},
		ManifestAnnotations: map[string]string{"org.example.kind": artifactType},
	})
	if err != nil {
		t.Fatalf("pushing referrer: %v", err)
	}
	return desc
}

// fetchAll fetches desc from repo and checks its content against its digest.
func fetchAll(t *testing.T, repo *remote.Repository, desc v1.Descriptor) []byte {
	t.Helper()
	rc, err := repo.Fetch(t.Context(), desc)
	if err != nil {
		t.Fatalf("fetching %s: %v", desc.Digest, err)
	}
	defer rc.Close()
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		t.Fatalf("reading %s: %v", desc.Digest, err)
	}
	return b
}

// recorder is a slog handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
	added   chan struct{} // signalled (without blocking) on every record
}

func newRecorder() *recorder { return &recorder{added: make(chan struct{}, 1)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	select {
	case r.added <- struct{}{}:
	default:
	}
	return nil
}

// has reports whether a record's message contains msg.
func (r *recorder) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if strings.Contains(rec.Message, msg) {
			return true
		}
	}
	return false
}

// wait waits up to ten seconds for a record containing msg.
func (r *recorder) wait(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !r.has(msg) {
		select {
		case <-r.added:
		case <-timeout:
			t.Fatalf("no log record %q", msg)
		}
	}
}

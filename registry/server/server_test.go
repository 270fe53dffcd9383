package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

func TestPushPullRoundTrip(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	repo := r.repo("charts/app")
	img := pushImage(t, repo, "1.0.0")

	got, err := repo.Resolve(t.Context(), "1.0.0")
	if err != nil {
		t.Fatalf("resolving tag: %v", err)
	}
	if got.Digest != img.manifest.Digest || got.Size != img.manifest.Size || got.MediaType != v1.MediaTypeImageManifest {
		t.Errorf("tag resolves to %+v, want %+v", got, img.manifest)
	}
	if b := fetchAll(t, repo, img.layer); !bytes.Equal(b, img.layerData) {
		t.Error("pulled layer differs from the pushed one")
	}
	var m v1.Manifest
	if err := json.Unmarshal(fetchAll(t, repo, img.manifest), &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.Digest != img.config.Digest || len(m.Layers) != 1 || m.Layers[0].Digest != img.layer.Digest {
		t.Errorf("pulled manifest %+v does not reference the pushed blobs", m)
	}

	// A client that names no manifest type still gets the manifest.
	resp, body := r.do(http.MethodGet, "/v2/charts/app/manifests/1.0.0", nil, nil)
	if resp.StatusCode != http.StatusOK || digest.FromBytes(body) != img.manifest.Digest {
		t.Errorf("GET manifest without Accept: %s, digest %s", resp.Status, digest.FromBytes(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != v1.MediaTypeImageManifest {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestDistributionLogsReachSlog(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	r.do(http.MethodGet, "/v2/", nil, nil)
	r.stop()
	// Distribution logs the end of every request, at Info, which is Debug
	// here. Were its context key not recognised, this would go to logrus's
	// standard logger (stderr).
	r.logs.mu.Lock()
	defer r.logs.mu.Unlock()
	for _, rec := range r.logs.records {
		if rec.Message == "response completed" {
			if rec.Level != slog.LevelDebug {
				t.Errorf("request log at %v, want Debug", rec.Level)
			}
			return
		}
	}
	t.Error("distribution's request logs did not reach the slog logger")
}

func TestChunkedUpload(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	data := randomBytes(t, 3000)
	d := digest.FromBytes(data)
	loc := r.startUpload("chunked")
	octets := http.Header{"Content-Type": {"application/octet-stream"}}
	for _, c := range [][2]int{{0, 1000}, {1000, 2500}, {2500, 3000}} {
		h := octets.Clone()
		h.Set("Content-Range", fmt.Sprintf("%d-%d", c[0], c[1]-1))
		resp, body := r.do(http.MethodPatch, loc, data[c[0]:c[1]], h)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH %v: %s %s", c, resp.Status, body)
		}
		if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", c[1]-1); got != want {
			t.Errorf("PATCH %v: Range %q, want %q", c, got, want)
		}
		loc = r.resolve(resp.Header.Get("Location"))
	}

	// A chunk that does not start where the upload is refused.
	h := octets.Clone()
	h.Set("Content-Range", "10-19")
	if resp, _ := r.do(http.MethodPatch, loc, data[10:20], h); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("out-of-order chunk: %s, want 416", resp.Status)
	}

	resp, body := r.do(http.MethodPut, loc+"&digest="+d.String(), nil, nil)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("closing upload: %s %s", resp.Status, body)
	}
	if got := fetchAll(t, r.repo("chunked"), v1.Descriptor{Digest: d, Size: int64(len(data))}); !bytes.Equal(got, data) {
		t.Error("blob pushed in chunks reads back different")
	}
}

func TestCrossRepositoryMount(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	src := pushBlob(t, r.repo("src"), "application/octet-stream", randomBytes(t, 2048))

	resp, body := r.do(http.MethodPost, "/v2/dst/blobs/uploads/?mount="+src.Digest.String()+"&from=src", nil, nil)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != src.Digest.String() {
		t.Fatalf("mount: %s %s", resp.Status, body)
	}
	if resp, _ := r.do(http.MethodHead, "/v2/dst/blobs/"+src.Digest.String(), nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("mounted blob: %s", resp.Status)
	}

	// Mounting from a repository without the blob falls back to an upload.
	resp, body = r.do(http.MethodPost, "/v2/dst2/blobs/uploads/?mount="+src.Digest.String()+"&from=nothere", nil, nil)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") == "" {
		t.Errorf("mount from a repository without the blob: %s %s, want 202 and an upload", resp.Status, body)
	}

	// oras mounts the same way.
	if err := r.repo("dst3").Mount(t.Context(), src, "src", nil); err != nil {
		t.Fatalf("oras mount: %v", err)
	}
	if ok, err := r.repo("dst3").Exists(t.Context(), src); err != nil || !ok {
		t.Errorf("blob mounted by oras: exists %v, %v", ok, err)
	}
}

func TestTagList(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	repo := r.repo("tags")
	img := pushImage(t, repo, "v1")
	for _, tag := range []string{"v2", "latest"} {
		if err := repo.Tag(t.Context(), img.manifest, tag); err != nil {
			t.Fatal(err)
		}
	}
	var tags []string
	if err := repo.Tags(t.Context(), "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"latest", "v1", "v2"}; !slices.Equal(tags, want) {
		t.Errorf("tags %q, want %q", tags, want)
	}

	resp, body := r.do(http.MethodGet, "/v2/tags/tags/list?n=2", nil, nil)
	var page struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tags page: %s %s", resp.Status, body)
	}
	if page.Name != "tags" || !slices.Equal(page.Tags, []string{"latest", "v1"}) || !strings.Contains(resp.Header.Get("Link"), "last=v1") {
		t.Errorf("first page of two: %+v, Link %q", page, resp.Header.Get("Link"))
	}

	resp, body = r.do(http.MethodGet, "/v2/nosuchrepo/tags/list", nil, nil)
	if resp.StatusCode != http.StatusNotFound || errorCode(t, body) != "NAME_UNKNOWN" {
		t.Errorf("tags of an unknown repository: %s %s", resp.Status, body)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	repo := r.repo("del")
	img := pushImage(t, repo, "gone")

	if err := repo.Delete(t.Context(), img.manifest); err != nil {
		t.Fatalf("deleting manifest: %v", err)
	}
	if _, err := repo.Resolve(t.Context(), "gone"); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("tag of a deleted manifest: %v, want not found", err)
	}
	resp, body := r.do(http.MethodGet, "/v2/del/manifests/"+img.manifest.Digest.String(), nil, http.Header{"Accept": {v1.MediaTypeImageManifest}})
	if resp.StatusCode != http.StatusNotFound || errorCode(t, body) != "MANIFEST_UNKNOWN" {
		t.Errorf("deleted manifest: %s %s", resp.Status, body)
	}

	if err := repo.Delete(t.Context(), img.layer); err != nil {
		t.Fatalf("deleting blob: %v", err)
	}
	resp, body = r.do(http.MethodGet, "/v2/del/blobs/"+img.layer.Digest.String(), nil, nil)
	if resp.StatusCode != http.StatusNotFound || errorCode(t, body) != "BLOB_UNKNOWN" {
		t.Errorf("deleted blob: %s %s", resp.Status, body)
	}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	repo := r.repo("signed")
	img := pushImage(t, repo, "v1")
	sig := pushReferrer(t, repo, img.manifest, "application/vnd.example.signature")
	sbom := pushReferrer(t, repo, img.manifest, "application/vnd.example.sbom")
	pushReferrer(t, repo, sig, "application/vnd.example.signature") // refers to sig, not img

	list := func(artifactType string) []v1.Descriptor {
		t.Helper()
		var got []v1.Descriptor
		if err := repo.Referrers(t.Context(), img.manifest, artifactType, func(page []v1.Descriptor) error {
			got = append(got, page...)
			return nil
		}); err != nil {
			t.Fatalf("referrers: %v", err)
		}
		return got
	}
	got := list("")
	want := []digest.Digest{sig.Digest, sbom.Digest}
	slices.Sort(want)
	if len(got) != 2 || got[0].Digest != want[0] || got[1].Digest != want[1] {
		t.Fatalf("referrers %+v, want %v", got, want)
	}
	for _, d := range got {
		if d.MediaType != v1.MediaTypeImageManifest || d.Size <= 0 || d.ArtifactType == "" || d.Annotations["org.example.kind"] != d.ArtifactType {
			t.Errorf("referrer descriptor %+v lacks what the spec asks for", d)
		}
	}
	if got := list("application/vnd.example.sbom"); len(got) != 1 || got[0].Digest != sbom.Digest {
		t.Errorf("sbom referrers %+v, want just %s", got, sbom.Digest)
	}

	// The registry announced the subject, so oras kept no referrers tag.
	var tags []string
	_ = repo.Tags(t.Context(), "", func(page []string) error { tags = append(tags, page...); return nil })
	if !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("tags %q: the client fell back to the referrers tag schema", tags)
	}

	cases := []struct {
		name, path   string
		status       int
		code         string
		count        int
		filterHeader bool
	}{
		{"filtered", "/v2/signed/referrers/" + img.manifest.Digest.String() + "?artifactType=application/vnd.example.signature", 200, "", 1, true},
		{"unknown subject", "/v2/signed/referrers/" + digest.FromString("nothing").String(), 200, "", 0, false},
		{"unknown repository", "/v2/nosuchrepo/referrers/" + img.manifest.Digest.String(), 200, "", 0, false},
		{"bad digest", "/v2/signed/referrers/sha256:nothex", 400, "DIGEST_INVALID", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := r.do(http.MethodGet, c.path, nil, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s, want %d", resp.Status, body, c.status)
			}
			if c.code != "" {
				if got := errorCode(t, body); got != c.code {
					t.Errorf("code %s, want %s", got, c.code)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != v1.MediaTypeImageIndex {
				t.Errorf("Content-Type %q", ct)
			}
			if got := resp.Header.Get("OCI-Filters-Applied") == "artifactType"; got != c.filterHeader {
				t.Errorf("OCI-Filters-Applied %q", resp.Header.Get("OCI-Filters-Applied"))
			}
			var idx v1.Index
			if err := json.Unmarshal(body, &idx); err != nil || idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex || idx.Manifests == nil {
				t.Fatalf("not an image index with a manifests list: %s", body)
			}
			if len(idx.Manifests) != c.count {
				t.Errorf("%d referrers, want %d", len(idx.Manifests), c.count)
			}
		})
	}

	// Deleting a referrer takes it off the list.
	if err := repo.Delete(t.Context(), sbom); err != nil {
		t.Fatal(err)
	}
	if got := list(""); len(got) != 1 || got[0].Digest != sig.Digest {
		t.Errorf("referrers after deleting the sbom: %+v", got)
	}
}

// cutOff sends method to target announcing size bytes of body but sending
// only the first half, then hangs up.
func (r *testRegistry) cutOff(method, target string, data []byte) {
	r.t.Helper()
	conn, err := net.Dial("tcp", r.host)
	if err != nil {
		r.t.Fatal(err)
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", method, req.URL.RequestURI(), r.host, len(data))
	if _, err := conn.Write(data[:len(data)/2]); err != nil {
		r.t.Fatal(err)
	}
	conn.Close()
}

func TestCutOffUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			r := start(t, Config{})
			data := randomBytes(t, 1<<20)
			d := digest.FromBytes(data)
			target := r.startUpload("cut")
			if method == http.MethodPut {
				target += "&digest=" + d.String()
			}
			r.cutOff(method, target, data)
			// The request has been handled once distribution logged its end.
			r.logs.wait(t, "response completed with error")

			if resp, _ := r.do(http.MethodHead, "/v2/cut/blobs/"+d.String(), nil, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("blob of a cut-off upload: %s, want 404", resp.Status)
			}
			if files := r.blobFiles(); len(files) != 0 {
				t.Errorf("blob store holds %q after a cut-off upload", files)
			}
			// The same content pushed in full afterwards is whole.
			pushBlob(t, r.repo("cut"), "application/octet-stream", data)
			if got := fetchAll(t, r.repo("cut"), v1.Descriptor{Digest: d, Size: int64(len(data))}); !bytes.Equal(got, data) {
				t.Error("blob pushed after a cut-off upload reads back different")
			}
		})
	}
}

func TestBadDigestStoresNothing(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	data := randomBytes(t, 5000)
	claimed := digest.FromString("something else")

	resp, body := r.do(http.MethodPut, r.startUpload("bad")+"&digest="+claimed.String(), data, nil)
	if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "DIGEST_INVALID" {
		t.Errorf("PUT with a digest that does not match: %s %s", resp.Status, body)
	}
	for _, d := range []digest.Digest{claimed, digest.FromBytes(data)} {
		if resp, _ := r.do(http.MethodHead, "/v2/bad/blobs/"+d.String(), nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("HEAD %s after a rejected upload: %s", d, resp.Status)
		}
	}
	if files := r.blobFiles(); len(files) != 0 {
		t.Errorf("blob store holds %q after a rejected upload", files)
	}
	uploads, _ := os.ReadDir(r.root + "/docker/registry/v2/repositories/bad/_uploads")
	if len(uploads) != 0 {
		t.Errorf("rejected upload left %d upload directories", len(uploads))
	}

	resp, body = r.do(http.MethodPut, r.startUpload("bad")+"&digest=sha256:nothex", data, nil)
	if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "DIGEST_INVALID" {
		t.Errorf("PUT with a malformed digest: %s %s", resp.Status, body)
	}

	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	resp, body = r.do(http.MethodPut, "/v2/bad/manifests/"+claimed.String(), manifest, http.Header{"Content-Type": {v1.MediaTypeImageManifest}})
	if resp.StatusCode != http.StatusBadRequest || errorCode(t, body) != "DIGEST_INVALID" {
		t.Errorf("manifest PUT under the wrong digest: %s %s", resp.Status, body)
	}
	if files := r.blobFiles(); len(files) != 0 {
		t.Errorf("blob store holds %q after rejected pushes", files)
	}
}

func TestPathTricksAreRefused(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	dgst := digest.FromString("x").String()
	cases := []struct{ name, method, path, code string }{
		{"dot dot", http.MethodPost, "/v2/../../etc/blobs/uploads/", "NAME_INVALID"},
		{"encoded dot dot", http.MethodPost, "/v2/%2e%2e/etc/blobs/uploads/", "NAME_INVALID"},
		{"dot dot inside", http.MethodGet, "/v2/a/%2E%2E/b/manifests/latest", "NAME_INVALID"},
		{"dot", http.MethodGet, "/v2/a/./b/tags/list", "NAME_INVALID"},
		{"uppercase", http.MethodGet, "/v2/Library/app/manifests/latest", "NAME_INVALID"},
		{"empty component", http.MethodGet, "/v2/a//b/tags/list", "NAME_INVALID"},
		{"encoded slash", http.MethodGet, "/v2/a%2fb/tags/list", "NAME_INVALID"},
		{"leading separator", http.MethodGet, "/v2/-a/manifests/latest", "NAME_INVALID"},
		{"backslash", http.MethodGet, "/v2/a%5cb/blobs/" + dgst, "NAME_INVALID"},
		{"too long", http.MethodGet, "/v2/" + strings.Repeat("a", 256) + "/manifests/latest", "NAME_INVALID"},
		{"referrers", http.MethodGet, "/v2/a/../b/referrers/" + dgst, "NAME_INVALID"},
		{"encoded dot dot as a tag", http.MethodGet, "/v2/a/manifests/%2e%2e", "MANIFEST_UNKNOWN"},
		{"encoded slash in a digest", http.MethodGet, "/v2/a/blobs/sha256%2f..%2f..", "DIGEST_INVALID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := r.do(c.method, c.path, nil, nil)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s %s: %s %s", c.method, c.path, resp.Status, body)
				return
			}
			if got := errorCode(t, body); got != c.code {
				t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.code)
			}
		})
	}
	if entries, err := os.ReadDir(r.root + "/docker"); err == nil || !os.IsNotExist(err) {
		t.Errorf("refused requests created storage: %v %v", entries, err)
	}
}

func TestConcurrentPushesOfTheSameContent(t *testing.T) {
	t.Parallel()
	r := start(t, Config{})
	data := randomBytes(t, 256<<10)
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			// Half into one repository, half into repositories of their own.
			name := "same"
			if i%2 == 1 {
				name = fmt.Sprintf("own%d", i)
			}
			desc := v1.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(data))}
			if err := r.repo(name).Push(t.Context(), desc, bytes.NewReader(data)); err != nil {
				errs <- fmt.Errorf("push %d into %s: %w", i, name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, name := range []string{"same", "own1", "own15"} {
		if got := fetchAll(t, r.repo(name), v1.Descriptor{Digest: d, Size: int64(len(data))}); !bytes.Equal(got, data) {
			t.Errorf("%s: blob pushed concurrently reads back different", name)
		}
	}
	if files := r.blobFiles(); len(files) != 1 || files[0] != r.blobFile(d) {
		t.Errorf("blob store holds %q, want just %s", files, r.blobFile(d))
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no root", Config{Addr: "127.0.0.1:0"}},
		{"no addr", Config{Root: dir}},
		{"bad addr", Config{Root: dir, Addr: "nowhere:-1"}},
		{"missing htpasswd", Config{Root: dir, Addr: "127.0.0.1:0", Htpasswd: dir + "/nothere"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if s, err := New(t.Context(), c.cfg); err == nil {
				s.release()
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := os.Stat(dir + "/nothere"); !os.IsNotExist(err) {
		t.Errorf("a missing htpasswd file was created: %v", err)
	}
}

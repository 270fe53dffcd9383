package server

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestGC(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	r := start(t, Config{Root: root})
	app := r.repo("app")
	kept := pushImage(t, app, "v1")
	sig := pushReferrer(t, app, kept.manifest, "application/vnd.example.signature")
	untagged := pushImage(t, app, "v2")
	if resp, body := r.do(http.MethodDelete, "/v2/app/manifests/v2", nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("untagging v2: %s %s", resp.Status, body)
	}
	orphanData := randomBytes(t, 10000)
	orphan := pushBlob(t, r.repo("orphans"), "application/octet-stream", orphanData)
	// The same image in another repository keeps its blobs for both.
	other := r.repo("other")
	for _, d := range []v1.Descriptor{kept.config, kept.layer} {
		if err := other.Mount(t.Context(), d, "app", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.PushReference(t.Context(), kept.manifest, bytes.NewReader(fetchAll(t, app, kept.manifest)), "v1"); err != nil {
		t.Fatal(err)
	}
	// An upload left half done.
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if resp, _ := r.do(http.MethodPatch, r.startUpload("app"), randomBytes(t, 100), h); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %s", resp.Status)
	}

	opts := GCOptions{Log: slog.New(newRecorder())}
	if _, err := GC(t.Context(), root, opts); !errors.Is(err, errLocked) {
		t.Fatalf("GC while served: %v, want it refused", err)
	}
	r.stop()

	exists := func(d digest.Digest) bool {
		_, err := os.Stat(r.blobFile(d))
		return err == nil
	}
	mustExist := func(step string, ds ...digest.Digest) {
		t.Helper()
		for _, d := range ds {
			if !exists(d) {
				t.Errorf("%s: blob %s was deleted", step, d)
			}
		}
	}
	mustBeGone := func(step string, ds ...digest.Digest) {
		t.Helper()
		for _, d := range ds {
			if exists(d) {
				t.Errorf("%s: blob %s is still there", step, d)
			}
		}
	}
	keptBlobs := []digest.Digest{kept.manifest.Digest, kept.config.Digest, kept.layer.Digest, sig.Digest}
	untaggedBlobs := []digest.Digest{untagged.manifest.Digest, untagged.config.Digest, untagged.layer.Digest}

	dry := opts
	dry.DryRun, dry.DeleteUntagged = true, true
	res, err := GC(t.Context(), root, dry)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	wantBlobs := append([]digest.Digest{orphan.Digest}, untaggedBlobs...)
	slices.Sort(wantBlobs)
	if !slices.Equal(res.Blobs, wantBlobs) || len(res.Manifests) != 1 || res.Manifests[0] != (ManifestRef{"app", untagged.manifest.Digest}) || res.Uploads != 1 {
		t.Errorf("dry run would delete %+v, want blobs %v, the untagged manifest and one upload", res, wantBlobs)
	}
	mustExist("dry run", append(keptBlobs, wantBlobs...)...)

	res, err = GC(t.Context(), root, opts)
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	if !slices.Equal(res.Blobs, []digest.Digest{orphan.Digest}) || len(res.Manifests) != 0 || res.Uploads != 1 || res.LayerLinks != 1 {
		t.Errorf("gc deleted %+v, want the orphan blob and its link, and the upload", res)
	}
	if res.BytesFreed < int64(len(orphanData)) {
		t.Errorf("gc freed %d bytes, want at least %d", res.BytesFreed, len(orphanData))
	}
	mustBeGone("gc", orphan.Digest)
	mustExist("gc", append(keptBlobs, untaggedBlobs...)...)

	untag := opts
	untag.DeleteUntagged = true
	if res, err = GC(t.Context(), root, untag); err != nil {
		t.Fatalf("gc --delete-untagged: %v", err)
	}
	if len(res.Manifests) != 1 || res.Manifests[0].Digest != untagged.manifest.Digest {
		t.Errorf("gc --delete-untagged deleted manifests %+v, want only %s", res.Manifests, untagged.manifest.Digest)
	}
	mustBeGone("gc --delete-untagged", untaggedBlobs...)
	mustExist("gc --delete-untagged", keptBlobs...)

	// What was kept is whole and served.
	r2 := start(t, Config{Root: root})
	app = r2.repo("app")
	if got, err := app.Resolve(t.Context(), "v1"); err != nil || got.Digest != kept.manifest.Digest {
		t.Fatalf("v1 after gc: %v %v", got.Digest, err)
	}
	if b := fetchAll(t, app, kept.layer); !slices.Equal(b, kept.layerData) {
		t.Error("layer of v1 reads back different after gc")
	}
	fetchAll(t, r2.repo("other"), kept.layer)
	var refs []v1.Descriptor
	if err := app.Referrers(t.Context(), kept.manifest, "", func(p []v1.Descriptor) error { refs = append(refs, p...); return nil }); err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Errorf("referrers of v1 after gc: %+v %v", refs, err)
	}
	resp, body := r2.do(http.MethodGet, "/v2/app/manifests/"+untagged.manifest.Digest.String(), nil, nil)
	if resp.StatusCode != http.StatusNotFound || errorCode(t, body) != "MANIFEST_UNKNOWN" {
		t.Errorf("collected manifest: %s %s", resp.Status, body)
	}
}

func TestGCOnEmptyRoot(t *testing.T) {
	t.Parallel()
	res, err := GC(t.Context(), t.TempDir(), GCOptions{Log: slog.New(newRecorder())})
	if err != nil || len(res.Blobs) != 0 || res.Repositories != 0 {
		t.Errorf("GC of an empty directory: %+v %v", res, err)
	}
	if _, err := GC(t.Context(), t.TempDir()+"/nothere", GCOptions{}); err == nil {
		t.Error("GC of a missing directory succeeded")
	}
}

package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/kubelet/images/imagetest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hostileTar writes entries (name → body; a body starting "->" makes a
// symlink to the rest) with archive/tar, names exactly as given.
func hostileTar(t *testing.T, entries [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e[1]))}
		if target, ok := strings.CutPrefix(e[1], "->"); ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, target, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(e[1])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layoutEntries reads the OCI layout in dir as tar entries, and the path of
// its (only) layer blob.
func layoutEntries(t *testing.T, dir string) (entries [][2]string, layerBlob string) {
	t.Helper()
	var idx ocispec.Index
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	var m ocispec.Manifest
	readJSON(t, filepath.Join(dir, "blobs/sha256", idx.Manifests[0].Digest.Encoded()), &m)
	layerBlob = "blobs/sha256/" + m.Layers[0].Digest.Encoded()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		entries = append(entries, [2]string{filepath.ToSlash(rel), string(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return entries, layerBlob
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestImportNeverWritesOrReadsOutside imports image archives whose entry
// names, links and manifests aim outside the store. Import keeps archive
// names as keys only (blobs are stored by their digest), so nothing is
// written outside the store; and it never reads the file system through an
// archive's links, so a layer "stored" as a link to a host file is missing.
func TestImportNeverWritesOrReadsOutside(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// src returns the path to import: a tar file or a layout directory.
		src  func(t *testing.T, e escapeSandbox) string
		want error // nil: the import succeeds
	}{
		{"escaping entry names beside a good layout", func(t *testing.T, e escapeSandbox) string {
			entries, _ := layoutEntries(t, layout(t, "hostile:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}}))
			entries = append(entries,
				[2]string{"../../../evil", "x"},
				[2]string{"blobs/sha256/../../../../../evil", "x"},
				[2]string{e.outside + "/sentinel", "pwned"},
				[2]string{"up", "->" + e.outside},
				[2]string{"up/sentinel", "pwned"})
			return writeFile(t, hostileTar(t, entries))
		}, nil},
		{"docker save naming files outside", func(t *testing.T, e escapeSandbox) string {
			manifest, _ := json.Marshal([]dockerManifest{{Config: "../../../outside/sentinel", RepoTags: []string{"hostile:v1"},
				Layers: []string{e.outside + "/sentinel"}}})
			return writeFile(t, hostileTar(t, [][2]string{{"manifest.json", string(manifest)}}))
		}, ErrNotFound},
		{"docker save config linked to a file outside", func(t *testing.T, e escapeSandbox) string {
			manifest, _ := json.Marshal([]dockerManifest{{Config: "cfg.json", RepoTags: []string{"hostile:v1"}}})
			return writeFile(t, hostileTar(t, [][2]string{{"manifest.json", string(manifest)},
				{"cfg.json", "->" + e.outside + "/sentinel"}}))
		}, ErrNotFound},
		{"layer blob linked to a file outside, in a tar", func(t *testing.T, e escapeSandbox) string {
			entries, blob := layoutEntries(t, layout(t, "hostile:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}}))
			for i := range entries {
				if entries[i][0] == blob {
					copyOutside(t, e, entries[i][1])
					entries[i][1] = "->" + e.outside + "/layer"
				}
			}
			return writeFile(t, hostileTar(t, entries))
		}, ErrNotFound},
		{"layer blob linked to a file outside, in a directory", func(t *testing.T, e escapeSandbox) string {
			dir := layout(t, "hostile:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}})
			_, blob := layoutEntries(t, dir)
			b, err := os.ReadFile(filepath.Join(dir, blob))
			if err != nil {
				t.Fatal(err)
			}
			copyOutside(t, e, string(b))
			if err := os.Remove(filepath.Join(dir, blob)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(e.outside, "layer"), filepath.Join(dir, blob)); err != nil {
				t.Fatal(err)
			}
			return dir
		}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEscapeSandbox(t)
			s := newStore(t, Config{Root: e.store})
			src := tc.src(t, e)
			_, err := s.Import(ctx, src)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Import = %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Import = %v, want %v", err, tc.want)
			}
			if err := os.Remove(filepath.Join(e.outside, "layer")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			e.assertOutsideUntouched(t)
			// Everything the store holds is a blob named by its digest or its own files.
			err = filepath.WalkDir(e.store, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(e.store, p)
				if !strings.HasPrefix(rel, "blobs/sha256/") && !strings.HasSuffix(rel, ".lock") && rel != "index.json" {
					t.Errorf("store holds %s", rel)
				}
				if d.Type()&fs.ModeSymlink != 0 {
					t.Errorf("store holds a symlink %s", rel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// writeFile writes b to a file of its own and returns its path.
func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyOutside puts a copy of a layer outside the store, for an archive to link to.
func copyOutside(t *testing.T, e escapeSandbox, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.outside, "layer"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

package images

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"berth.dev/berth/kubelet/images/imagetest"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = filepath.Join(t.TempDir(), "store")
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Unmount and remove every container root filesystem, even on failure.
	t.Cleanup(func() {
		entries, _ := os.ReadDir(filepath.Join(s.root, "containers"))
		for _, e := range entries {
			if err := s.RemoveRootfs(context.Background(), e.Name()); err != nil {
				t.Errorf("cleaning up: %v", err)
			}
		}
	})
	return s
}

// layout writes a test OCI layout of the given layers and returns its dir.
func layout(t *testing.T, ref string, cfg ocispec.ImageConfig, layers ...[]imagetest.File) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	if _, err := imagetest.WriteLayout(dir, ref, cfg, layers...); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                      "docker.io/library/nginx:latest",
		"nginx:1.27":                 "docker.io/library/nginx:1.27",
		"bars/hello:v1":              "docker.io/bars/hello:v1",
		"docker.io/bars/hello:v1":    "docker.io/bars/hello:v1",
		"localhost:5000/app":         "localhost:5000/app:latest",
		"quay.io/x/y:z":              "quay.io/x/y:z",
		"nginx@sha256:" + hex64('a'): "docker.io/library/nginx@sha256:" + hex64('a'),
	} {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeName("UPPER"); err == nil {
		t.Error("NormalizeName accepted an invalid reference")
	}
}

func hex64(c byte) string { return strings.Repeat(string(c), 64) }

func TestImportOCILayout(t *testing.T) {
	ctx := context.Background()
	cfg := ocispec.ImageConfig{Entrypoint: []string{"/app"}, Cmd: []string{"--serve"}, Env: []string{"A=1"}, User: "1000:1000", WorkingDir: "/srv"}
	dir := layout(t, "bars/hello:v1", cfg, []imagetest.File{{Name: "app", Mode: 0o755, Body: []byte("bin")}})
	tarball, err := imagetest.TarDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "layout.tar")
	if err := os.WriteFile(tarPath, tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		opts      []ImportOption
		want      string
	}{
		{"directory", dir, nil, "docker.io/bars/hello:v1"},
		{"tar", tarPath, nil, "docker.io/bars/hello:v1"},
		{"override name", dir, []ImportOption{WithName("other:v2")}, "docker.io/library/other:v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Config{})
			imgs, err := s.Import(ctx, tc.src, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != 1 || imgs[0].Name != tc.want {
				t.Fatalf("imported %+v, want one image %s", imgs, tc.want)
			}
			img, err := s.Get(ctx, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(img.Config.Entrypoint, img.Config.Cmd, img.Config.Env, img.Config.User, img.Config.WorkingDir) !=
				fmt.Sprint(cfg.Entrypoint, cfg.Cmd, cfg.Env, cfg.User, cfg.WorkingDir) {
				t.Errorf("config = %+v, want %+v", img.Config, cfg)
			}
			if len(img.Layers) != 1 || len(img.DiffIDs) != 1 || img.ID() == "" || img.Size == 0 {
				t.Errorf("image = %+v", img)
			}
			if want := strings.SplitN(tc.want, ":", 2)[0] + "@" + img.Target.Digest.String(); img.RepoDigest() != want {
				t.Errorf("RepoDigest = %s", img.RepoDigest())
			}
			byDigest, err := s.Get(ctx, img.RepoDigest())
			if err != nil || byDigest.ID() != img.ID() {
				t.Errorf("Get(%s) = %v, %v", img.RepoDigest(), byDigest.ID(), err)
			}
		})
	}
}

// dockerSave writes a `docker save` archive (the legacy layout: <id>/layer.tar,
// a duplicate layer as a symlink) holding one image tagged tags.
func dockerSave(t *testing.T, tags ...string) []byte {
	t.Helper()
	l1, err := imagetest.Tar([]imagetest.File{{Name: "etc/", Dir: true}, {Name: "etc/motd", Body: []byte("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(l1), digest.FromBytes(l1)}},
	})
	manifest, _ := json.Marshal([]dockerManifest{{Config: "cfg.json", RepoTags: tags, Layers: []string{"aaa/layer.tar", "bbb/layer.tar"}}})
	b, err := imagetest.Tar([]imagetest.File{
		{Name: "aaa/", Dir: true}, {Name: "aaa/VERSION", Body: []byte("1.0")}, {Name: "aaa/json", Body: []byte("{}")},
		{Name: "aaa/layer.tar", Body: l1},
		{Name: "bbb/", Dir: true}, {Name: "bbb/layer.tar", Symlink: "../aaa/layer.tar"},
		{Name: "cfg.json", Body: cfg},
		{Name: "manifest.json", Body: manifest},
		{Name: "repositories", Body: []byte("{}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportDockerSave(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	imgs, err := s.ImportArchive(ctx, bytes.NewReader(dockerSave(t, "bars/hello:v1", "bars/hello:latest")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range imgs {
		names = append(names, i.Name)
	}
	if got := strings.Join(names, " "); got != "docker.io/bars/hello:v1 docker.io/bars/hello:latest" {
		t.Errorf("imported %s", got)
	}
	img, err := s.Get(ctx, "bars/hello")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 || img.Layers[0].MediaType != ocispec.MediaTypeImageLayer || img.Config.Cmd[0] != "/bin/sh" {
		t.Errorf("image = %+v", img)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("List = %d images, %v", len(list), err)
	}
}

func TestImportRefusesBadArchives(t *testing.T) {
	ctx := context.Background()
	good := layout(t, "good:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}})
	for _, tc := range []struct {
		name    string
		archive func(t *testing.T) []byte
		opts    []ImportOption
		want    error
	}{
		{"corrupt blob", func(t *testing.T) []byte {
			dir := layout(t, "bad:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}})
			blobs, _ := filepath.Glob(filepath.Join(dir, "blobs/sha256/*"))
			os.WriteFile(blobs[0], []byte("tampered"), 0o644)
			b, _ := imagetest.TarDir(dir)
			return b
		}, nil, ErrInvalid},
		{"missing layer", func(t *testing.T) []byte {
			dir := layout(t, "bad:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}})
			var m ocispec.Index
			b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
			json.Unmarshal(b, &m)
			mb, _ := os.ReadFile(filepath.Join(dir, "blobs/sha256", m.Manifests[0].Digest.Encoded()))
			var man ocispec.Manifest
			json.Unmarshal(mb, &man)
			os.Remove(filepath.Join(dir, "blobs/sha256", man.Layers[0].Digest.Encoded()))
			out, _ := imagetest.TarDir(dir)
			return out
		}, nil, ErrNotFound},
		{"one of two broken", func(t *testing.T) []byte {
			dir := t.TempDir()
			os.CopyFS(dir, os.DirFS(good))
			m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("absent"), Size: 6}})
			md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m)),
				Annotations: map[string]string{ocispec.AnnotationRefName: "second:v1"}}
			os.WriteFile(filepath.Join(dir, "blobs/sha256", md.Digest.Encoded()), m, 0o644)
			var idx ocispec.Index
			b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
			json.Unmarshal(b, &idx)
			idx.Manifests = append(idx.Manifests, md)
			b, _ = json.Marshal(idx)
			os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
			out, _ := imagetest.TarDir(dir)
			return out
		}, nil, ErrNotFound},
		{"no name", func(t *testing.T) []byte { return dockerSave(t) }, nil, ErrInvalid},
		{"not an image", func(t *testing.T) []byte {
			b, _ := imagetest.Tar([]imagetest.File{{Name: "hello.txt", Body: []byte("hi")}})
			return b
		}, nil, ErrInvalid},
		{"name for two images", func(t *testing.T) []byte {
			b, _ := os.ReadFile(filepath.Join(good, "index.json"))
			var idx ocispec.Index
			json.Unmarshal(b, &idx)
			idx.Manifests = append(idx.Manifests, idx.Manifests[0])
			b, _ = json.Marshal(idx)
			dir := t.TempDir()
			os.CopyFS(dir, os.DirFS(good))
			os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
			out, _ := imagetest.TarDir(dir)
			return out
		}, []ImportOption{WithName("x:y")}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Config{})
			_, err := s.ImportArchive(ctx, bytes.NewReader(tc.archive(t)), tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ImportArchive = %v, want %v", err, tc.want)
			}
			if list, _ := s.List(ctx); len(list) != 0 {
				t.Errorf("a refused import named %d images", len(list))
			}
		})
	}
}

// platformLayout writes a layout whose index.json points at an image index
// with one manifest per architecture in archs.
func platformLayout(t *testing.T, archs ...string) string {
	t.Helper()
	dir := layout(t, "multi:v1", ocispec.ImageConfig{Cmd: []string{"native"}}, []imagetest.File{{Name: "f", Body: []byte("x")}})
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	var top ocispec.Index
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	native := top.Manifests[0]
	var children []ocispec.Descriptor
	for _, a := range archs {
		d := native
		d.Annotations = nil
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: a}
		if a != "amd64" {
			// Another architecture: a manifest whose blobs are not in the layout.
			m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString(a), Size: 1}})
			d.Digest, d.Size = digest.FromBytes(m), int64(len(m))
			os.WriteFile(filepath.Join(dir, "blobs/sha256", d.Digest.Encoded()), m, 0o644)
		}
		children = append(children, d)
	}
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children})
	id := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(ib), Size: int64(len(ib)), Annotations: native.Annotations}
	os.WriteFile(filepath.Join(dir, "blobs/sha256", id.Digest.Encoded()), ib, 0o644)
	top.Manifests = []ocispec.Descriptor{id}
	b, _ = json.Marshal(top)
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
	return dir
}

func TestPlatformSelection(t *testing.T) {
	ctx := context.Background()
	t.Run("amd64 among others", func(t *testing.T) {
		s := newStore(t, Config{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}})
		imgs, err := s.Import(ctx, platformLayout(t, "arm64", "amd64", "s390x"))
		if err != nil {
			t.Fatal(err)
		}
		if imgs[0].Target.MediaType != ocispec.MediaTypeImageIndex || imgs[0].Manifest.Digest == imgs[0].Target.Digest || imgs[0].Config.Cmd[0] != "native" {
			t.Errorf("image = %+v", imgs[0])
		}
	})
	t.Run("no amd64", func(t *testing.T) {
		s := newStore(t, Config{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}})
		_, err := s.Import(ctx, platformLayout(t, "arm64"))
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "linux/amd64") {
			t.Errorf("Import = %v, want no manifest for linux/amd64", err)
		}
	})
}

func TestRemoveAndGC(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{NoOverlay: true})
	shared := []imagetest.File{{Name: "shared", Body: []byte("base")}}
	a := layout(t, "a:v1", ocispec.ImageConfig{}, shared, []imagetest.File{{Name: "only-a", Body: []byte("a")}})
	b := layout(t, "b:v1", ocispec.ImageConfig{}, shared)
	for _, src := range []string{a, b} {
		if _, err := s.Import(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	imgA, _ := s.Get(ctx, "a:v1")
	if _, err := s.CreateRootfs(ctx, "gc-test", imgA); err != nil {
		t.Fatal(err)
	}
	if res, err := s.GC(ctx); err != nil || res.Blobs != 0 || res.Layers != 0 {
		t.Fatalf("GC with everything referenced = %+v, %v", res, err)
	}
	if err := s.Remove(ctx, "a:v1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "a:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v, want ErrNotFound", err)
	}
	// The container still uses a's layers: only a's blobs go.
	res, err := s.GC(ctx)
	if err != nil || res.Blobs != 3 || res.Layers != 0 {
		t.Fatalf("GC after Remove = %+v, %v; want 3 blobs (manifest, config, layer), no layers", res, err)
	}
	if err := s.RemoveRootfs(ctx, "gc-test"); err != nil {
		t.Fatal(err)
	}
	if res, err = s.GC(ctx); err != nil || res.Layers != 1 {
		t.Fatalf("GC after RemoveRootfs = %+v, %v; want a's own layer", res, err)
	}
	if _, err := s.Get(ctx, "b:v1"); err != nil {
		t.Errorf("b after GC: %v", err)
	}
	if _, err := s.Get(ctx, "a:v1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a after Remove: %v", err)
	}
}

func TestConcurrentImportsAndGC(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	var srcs []string
	for i := range 4 {
		srcs = append(srcs, layout(t, fmt.Sprintf("img%d:v1", i), ocispec.ImageConfig{},
			[]imagetest.File{{Name: "common", Body: []byte("same")}}, []imagetest.File{{Name: "own", Body: []byte{byte(i)}}}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for round := range 3 {
		for _, src := range srcs {
			wg.Go(func() {
				if _, err := s.Import(ctx, src); err != nil {
					errs <- err
				}
			})
		}
		wg.Go(func() {
			if _, err := s.GC(ctx); err != nil {
				errs <- fmt.Errorf("round %d: %w", round, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 4 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	for _, img := range list {
		if img.ID() == "" {
			t.Errorf("%s is broken after concurrent GC", img.Name)
		}
	}
}

// A second Store on the same root (`berth image import` beside a running
// kubelet) sees what the first one imported, at once.
func TestImportVisibleToAnotherStore(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "store")
	kubelet, cli := newStore(t, Config{Root: root}), newStore(t, Config{Root: root})
	if _, err := kubelet.Get(ctx, "late:v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before import = %v", err)
	}
	if _, err := cli.Import(ctx, layout(t, "late:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := kubelet.Get(ctx, "late:v1"); err != nil {
		t.Errorf("Get after import by another store: %v", err)
	}
}

// rewriteConfig changes the config of the only image in an OCI layout,
// rewriting the manifest and index.json to match.
func rewriteConfig(t *testing.T, dir string, change func(*ocispec.Image)) {
	t.Helper()
	read := func(d digest.Digest, v any) {
		b, err := os.ReadFile(filepath.Join(dir, "blobs/sha256", d.Encoded()))
		if err != nil || json.Unmarshal(b, v) != nil {
			t.Fatalf("reading %s: %v", d, err)
		}
	}
	write := func(d *ocispec.Descriptor, v any) {
		b, _ := json.Marshal(v)
		d.Digest, d.Size = digest.FromBytes(b), int64(len(b))
		if err := os.WriteFile(filepath.Join(dir, "blobs/sha256", d.Digest.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var idx ocispec.Index
	b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	json.Unmarshal(b, &idx)
	var m ocispec.Manifest
	read(idx.Manifests[0].Digest, &m)
	var cfg ocispec.Image
	read(m.Config.Digest, &cfg)
	change(&cfg)
	write(&m.Config, cfg)
	write(&idx.Manifests[0], m)
	b, _ = json.Marshal(idx)
	os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644)
}

func TestPruneAndDiskUsage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	for _, name := range []string{"old:v1", "used:v1", "new:v1"} {
		body := bytes.Repeat([]byte(name), 4096)
		if _, err := s.Import(ctx, layout(t, name, ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: body}})); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.DiskUsage(ctx)
	if err != nil || before.Images == 0 || before.Capacity < before.Available {
		t.Fatalf("DiskUsage = %+v, %v", before, err)
	}
	inUse := func(img Image) bool { return img.Name == "docker.io/library/used:v1" }
	removed, res, err := s.Prune(ctx, 1, inUse)
	if err != nil || len(removed) != 1 || removed[0] != "docker.io/library/old:v1" || res.Bytes == 0 {
		t.Fatalf("Prune(1 byte) = %v, %+v, %v; want old:v1 only", removed, res, err)
	}
	removed, _, err = s.Prune(ctx, 1<<40, inUse)
	if err != nil || strings.Join(removed, " ") != "docker.io/library/new:v1" {
		t.Fatalf("Prune(all) = %v, %v; want new:v1 (used:v1 is in use)", removed, err)
	}
	after, err := s.DiskUsage(ctx)
	if err != nil || after.Images >= before.Images {
		t.Errorf("DiskUsage after prune = %+v, before %+v", after, before)
	}
}

package imagepush

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/kubelet/images/imagetest"
	"berth.dev/berth/registry/server/servertest"
)

// writeLayout writes an OCI layout of a small two-layer image and returns its
// directory and manifest descriptor.
func writeLayout(t *testing.T) (string, ocispec.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	md, err := imagetest.WriteLayout(dir, "berth.test/app:v1", ocispec.ImageConfig{Cmd: []string{"/app"}},
		[]imagetest.File{{Name: "app", Mode: 0o755, Body: []byte("binary")}},
		[]imagetest.File{{Name: "etc/", Dir: true}, {Name: "etc/motd", Body: []byte("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, md
}

// writeFile writes b to a file named name in a new temporary directory.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dockerSave builds a `docker save` archive of one one-layer image.
func dockerSave(t *testing.T) []byte {
	t.Helper()
	l, err := imagetest.Tar([]imagetest.File{{Name: "etc/", Dir: true}, {Name: "etc/motd", Body: []byte("saved")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(l)}},
	})
	manifest, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": []string{"saved:v1"}, "Layers": []string{"aaa/layer.tar"}}})
	b, err := imagetest.Tar([]imagetest.File{
		{Name: "aaa/", Dir: true}, {Name: "aaa/layer.tar", Body: l},
		{Name: "cfg.json", Body: cfg}, {Name: "manifest.json", Body: manifest},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newStore(t *testing.T) *images.Store {
	t.Helper()
	s, err := images.New(images.Config{Root: t.TempDir(), NoOverlay: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pullBack pulls ref into a fresh store with no registries config (the
// loopback registry is reached over plain HTTP on its own) and checks it is
// the image want names, layer for layer.
func pullBack(t *testing.T, ref string, want images.Image) {
	t.Helper()
	got, err := newStore(t).Pull(t.Context(), ref)
	if err != nil {
		t.Fatalf("pulling back %s: %v", ref, err)
	}
	if got.Target.Digest != want.Target.Digest || got.ID() != want.ID() {
		t.Errorf("pulled %s as %s (image %s), pushed %s (image %s)", ref, got.Target.Digest, got.ID(), want.Target.Digest, want.ID())
	}
	if fmt.Sprint(got.Layers) != fmt.Sprint(want.Layers) {
		t.Errorf("pulled layers %v, pushed %v", got.Layers, want.Layers)
	}
}

func TestPushRoundTrip(t *testing.T) {
	ctx := t.Context()
	host := servertest.Start(t, "")
	plain := Options{PlainHTTP: true}
	dir, md := writeLayout(t)
	layoutTar, err := imagetest.TarDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	saved := dockerSave(t)

	// local imports each source into a store of its own: what the push
	// must reproduce in the registry, digest for digest.
	local := func(t *testing.T, src string) (*images.Store, images.Image) {
		t.Helper()
		s := newStore(t)
		imgs, err := s.Import(ctx, src, images.WithName("local/img:v1"))
		if err != nil {
			t.Fatal(err)
		}
		return s, imgs[0]
	}

	for _, tc := range []struct {
		name, src string
	}{
		{"OCI layout directory", dir},
		{"OCI layout tar", writeFile(t, "layout.tar", layoutTar)},
		{"docker save archive", writeFile(t, "saved.tar", saved)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, want := local(t, tc.src)
			dst := host + "/" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-") + ":1"
			res, err := PushArchive(ctx, tc.src, dst, plain)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reference != dst || res.Descriptor.Digest != want.Target.Digest {
				t.Errorf("pushed %s as %s, want %s as %s", res.Reference, res.Descriptor.Digest, dst, want.Target.Digest)
			}
			if tc.src == dir && res.Descriptor.Digest != md.Digest {
				t.Errorf("pushed %s, the layout's manifest is %s", res.Descriptor.Digest, md.Digest)
			}
			pullBack(t, dst, want)
		})
	}

	t.Run("image in a node's store", func(t *testing.T) {
		store, want := local(t, dir)
		dst := host + "/from-store:1"
		res, err := PushImage(ctx, store, "local/img:v1", dst, plain)
		if err != nil {
			t.Fatal(err)
		}
		if res.Descriptor.Digest != md.Digest || res.PlatformOnly {
			t.Errorf("pushed %+v, want %s", res, md.Digest)
		}
		pullBack(t, dst, want)
	})

	t.Run("plain HTTP registry without PlainHTTP", func(t *testing.T) {
		_, err := PushArchive(ctx, dir, host+"/app:1", Options{})
		if err == nil || !strings.Contains(err.Error(), "--plain-http") {
			t.Errorf("push over HTTPS to a plain HTTP registry = %v, want a hint to give --plain-http", err)
		}
	})
	t.Run("destination without a tag", func(t *testing.T) {
		for _, dst := range []string{host + "/app", "app:1", host + "/app@" + md.Digest.String()} {
			if _, err := PushArchive(ctx, dir, dst, plain); err == nil || !strings.Contains(err.Error(), "HOST/REPO:TAG") {
				t.Errorf("PushArchive to %s = %v, want an error asking for HOST/REPO:TAG", dst, err)
			}
		}
	})
}

func TestPushCredentials(t *testing.T) {
	ctx := t.Context()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	host := servertest.Start(t, writeFile(t, "htpasswd", []byte("alice:"+string(hash)+"\n")))
	dir, md := writeLayout(t)

	t.Run("wrong password", func(t *testing.T) {
		_, err := PushArchive(ctx, dir, host+"/app:1", Options{PlainHTTP: true, Username: "alice", Password: "wrong"})
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "--username") {
			t.Errorf("push with a wrong password = %v, want ErrUnauthorized naming the fix", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		_, err := PushArchive(ctx, dir, host+"/app:1", Options{PlainHTTP: true})
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("push without credentials = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("flags", func(t *testing.T) {
		res, err := PushArchive(ctx, dir, host+"/app:1", Options{PlainHTTP: true, Username: "alice", Password: "s3cret"})
		if err != nil || res.Descriptor.Digest != md.Digest {
			t.Errorf("push = %+v, %v", res, err)
		}
	})
	t.Run("credentials file", func(t *testing.T) {
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, base64.StdEncoding.EncodeToString([]byte("alice:s3cret")))
		file := writeFile(t, "config.json", []byte(cfg))
		res, err := PushArchive(ctx, dir, host+"/app:2", Options{PlainHTTP: true, CredentialsFile: file})
		if err != nil || res.Descriptor.Digest != md.Digest {
			t.Errorf("push = %+v, %v", res, err)
		}
	})
}

// multiPlatformLayout writes an OCI layout whose one image is an index of
// two manifests: this machine's platform and another.
func multiPlatformLayout(t *testing.T) (string, ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	dir := t.TempDir()
	var manifests []ocispec.Descriptor
	for _, arch := range []string{runtime.GOARCH, "other"} {
		src := t.TempDir()
		md, err := imagetest.WriteLayout(src, "berth.test/multi:v1", ocispec.ImageConfig{Cmd: []string{arch}},
			[]imagetest.File{{Name: "arch", Body: []byte(arch)}})
		if err != nil {
			t.Fatal(err)
		}
		md.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		md.Annotations = nil
		manifests = append(manifests, md)
		blobs, _ := filepath.Glob(filepath.Join(src, "blobs", "sha256", "*"))
		for _, b := range blobs {
			body, err := os.ReadFile(b)
			if err != nil {
				t.Fatal(err)
			}
			writeBlob(t, dir, body)
		}
	}
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests})
	root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: writeBlob(t, dir, idx), Size: int64(len(idx))}
	top, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: []ocispec.Descriptor{root}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), top, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, root, manifests[0]
}

func writeBlob(t *testing.T, layout string, body []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(body)
	p := filepath.Join(layout, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPushIndex(t *testing.T) {
	ctx := t.Context()
	host := servertest.Start(t, "")
	plain := Options{PlainHTTP: true}
	dir, index, native := multiPlatformLayout(t)

	res, err := PushArchive(ctx, dir, host+"/multi:1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest != index.Digest || res.PlatformOnly {
		t.Errorf("pushed %+v, want the index %s", res, index.Digest)
	}
	// The store pulls the index and this platform's manifest only.
	store := newStore(t)
	if _, err := store.Pull(ctx, host+"/multi:1"); err != nil {
		t.Fatal(err)
	}
	res, err = PushImage(ctx, store, host+"/multi:1", host+"/multi:native", plain)
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest != native.Digest || !res.PlatformOnly {
		t.Errorf("pushed %+v from a store holding one platform, want its manifest %s", res, native.Digest)
	}
}

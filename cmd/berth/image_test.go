package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"sigs.k8s.io/yaml"

	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/kubelet/images/imagetest"
)

// berthImage runs `berth image args... --data-dir dataDir` in-process and
// returns what it printed.
func berthImage(t *testing.T, stdin io.Reader, dataDir string, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetArgs(append(append([]string{"image"}, args...), "--data-dir", dataDir))
	root.SetOut(&out)
	root.SetErr(&out)
	if stdin != nil {
		root.SetIn(stdin)
	}
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// mustBerthImage is berthImage for commands that must succeed.
func mustBerthImage(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	out, err := berthImage(t, nil, dataDir, args...)
	if err != nil {
		t.Fatalf("berth image %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// imageLayout writes an OCI layout of a one-file image named ref; body makes
// its blobs differ from other test images'.
func imageLayout(t *testing.T, ref, body string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := ocispec.ImageConfig{Entrypoint: []string{"/app"}}
	if _, err := imagetest.WriteLayout(dir, ref, cfg, []imagetest.File{{Name: "app", Mode: 0o755, Body: []byte(body)}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// imageArchive writes the layout in dir as a tar file, gzip compressed if asked.
func imageArchive(t *testing.T, dir string, compress bool) []byte {
	t.Helper()
	b, err := imagetest.TarDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !compress {
		return b
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

func writeTestFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openImageStore opens the store the commands use, to check what they did.
func openImageStore(t *testing.T, dataDir string) *images.Store {
	t.Helper()
	s, err := images.New(images.Config{Root: imageStoreDir(dataDir)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func getImage(t *testing.T, s *images.Store, ref string) images.Image {
	t.Helper()
	img, err := s.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImageImport(t *testing.T) {
	hello := imageLayout(t, "bars/hello:v1", "hello")
	tarball := writeTestFile(t, "hello.tar", imageArchive(t, hello, false))
	for _, tc := range []struct {
		name  string
		args  []string
		stdin []byte
		want  string // the name the image gets
	}{
		{name: "layout directory", args: []string{hello}, want: "docker.io/bars/hello:v1"},
		{name: "tar archive", args: []string{tarball}, want: "docker.io/bars/hello:v1"},
		{name: "gzip tar on standard input", args: []string{"-"}, stdin: imageArchive(t, hello, true), want: "docker.io/bars/hello:v1"},
		{name: "--name", args: []string{tarball, "--name", "berth.test/renamed:v2"}, want: "berth.test/renamed:v2"},
		{name: "--name short form", args: []string{hello, "--name", "renamed"}, want: "docker.io/library/renamed:latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			out, err := berthImage(t, bytes.NewReader(tc.stdin), dataDir, append([]string{"import"}, tc.args...)...)
			if err != nil {
				t.Fatalf("import: %v\n%s", err, out)
			}
			img := getImage(t, openImageStore(t, dataDir), tc.want)
			if want := fmt.Sprintf("imported %s (%s)\n", tc.want, img.ID()); out != want {
				t.Errorf("import printed %q, want %q", out, want)
			}
			if got := mustBerthImage(t, dataDir, "ls", "-q"); got != tc.want+"\n" {
				t.Errorf("ls -q = %q, want only %s", got, tc.want)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"--name with two paths", []string{hello, tarball, "--name", "x:v1"}, "single PATH"},
			{"bad --name", []string{hello, "--name", "Not/A/Name"}, "Not/A/Name"},
			{"standard input twice", []string{"-", "-"}, "only once"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dataDir := t.TempDir()
				_, err := berthImage(t, nil, dataDir, append([]string{"import"}, tc.args...)...)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("import = %v, want an error about %q", err, tc.want)
				}
				if _, err := os.Stat(imageStoreDir(dataDir)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("refused import made the image store: %v", err)
				}
			})
		}
	})

	t.Run("a missing path fails, the others are imported", func(t *testing.T) {
		dataDir := t.TempDir()
		missing := filepath.Join(t.TempDir(), "missing.tar")
		out, err := berthImage(t, nil, dataDir, "import", missing, hello)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("import = %v, want an error naming %s", err, missing)
		}
		if !strings.HasPrefix(out, "imported docker.io/bars/hello:v1 (sha256:") {
			t.Errorf("import printed %q", out)
		}
	})
}

func TestImageList(t *testing.T) {
	dataDir := t.TempDir()
	mustBerthImage(t, dataDir, "import", imageLayout(t, "bars/hello:v1", "hello"))
	mustBerthImage(t, dataDir, "import", imageLayout(t, "busybox", "busybox"))
	s := openImageStore(t, dataDir)
	hello, busybox := getImage(t, s, "bars/hello:v1"), getImage(t, s, "busybox")

	t.Run("table", func(t *testing.T) {
		out := mustBerthImage(t, dataDir, "ls")
		var got [][]string
		for line := range strings.Lines(out) {
			got = append(got, strings.Split(strings.TrimSpace(line), "\t"))
		}
		want := [][]string{
			{"IMAGE", "TAG", "IMAGE ID", "SIZE"},
			{"docker.io/bars/hello", "v1", hello.ID().Encoded()[:12], humanSize(hello.Size)},
			{"docker.io/library/busybox", "latest", busybox.ID().Encoded()[:12], humanSize(busybox.Size)},
		}
		if len(got) != len(want) {
			t.Fatalf("ls printed %d lines, want %d:\n%s", len(got), len(want), out)
		}
		for i := range want {
			for j := range want[i] {
				if strings.TrimSpace(got[i][j]) != want[i][j] {
					t.Errorf("ls line %d column %d = %q, want %q\n%s", i, j, got[i][j], want[i][j], out)
				}
			}
		}
	})
	t.Run("quiet", func(t *testing.T) {
		if out := mustBerthImage(t, dataDir, "list", "-q"); out != "docker.io/bars/hello:v1\ndocker.io/library/busybox:latest\n" {
			t.Errorf("ls -q = %q", out)
		}
	})
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			out := mustBerthImage(t, dataDir, "ls", "-o", format)
			var got []imageListElement
			if err := yaml.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("ls -o %s: %v\n%s", format, err, out)
			}
			if len(got) != 2 {
				t.Fatalf("ls -o %s listed %d images:\n%s", format, len(got), out)
			}
			e := got[0]
			if e.Name != hello.Name || e.Repository != "docker.io/bars/hello" || e.Tag != "v1" || e.ID != hello.ID().String() ||
				e.RepoDigest != hello.RepoDigest() || e.Size != hello.Size || !e.Stored.Equal(hello.Stored) {
				t.Errorf("ls -o %s: %+v, want %+v", format, e, hello)
			}
		})
	}
	t.Run("no store", func(t *testing.T) {
		empty := t.TempDir()
		_, err := berthImage(t, nil, empty, "ls")
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("ls = %v, want an error about --data-dir", err)
		}
		if _, err := os.Stat(imageStoreDir(empty)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ls made the image store: %v", err)
		}
	})
}

func TestImageRemove(t *testing.T) {
	dataDir := t.TempDir()
	mustBerthImage(t, dataDir, "import", imageLayout(t, "bars/hello:v1", "hello"))
	mustBerthImage(t, dataDir, "import", imageLayout(t, "bars/other:v1", "other"))
	hello := getImage(t, openImageStore(t, dataDir), "bars/hello:v1")

	out, err := berthImage(t, nil, dataDir, "rm", "nope:v9", "bars/hello:v1")
	if !errors.Is(err, images.ErrNotFound) || !strings.Contains(err.Error(), "docker.io/library/nope:v9") {
		t.Errorf("rm = %v, want a not-found error naming docker.io/library/nope:v9", err)
	}
	// hello's manifest, config and layer are its own: GC deletes all three.
	want := fmt.Sprintf("removed docker.io/bars/hello:v1\ndeleted 3 blobs (%s) and 0 unpacked layers\n", humanSize(hello.Size))
	if out != want {
		t.Errorf("rm printed %q, want %q", out, want)
	}
	if got := mustBerthImage(t, dataDir, "ls", "-q"); got != "docker.io/bars/other:v1\n" {
		t.Errorf("after rm, ls -q = %q", got)
	}

	out, err = berthImage(t, nil, dataDir, "remove", "bars/hello:v1")
	if !errors.Is(err, images.ErrNotFound) || out != "" {
		t.Errorf("second rm = %v, printed %q; want a not-found error and nothing done", err, out)
	}
}

func TestImagePrune(t *testing.T) {
	dataDir := t.TempDir()
	mustBerthImage(t, dataDir, "import", imageLayout(t, "bars/hello:v1", "old"))
	old := getImage(t, openImageStore(t, dataDir), "bars/hello:v1")
	// Importing another image under the same name leaves the old one's blobs
	// unreferenced.
	mustBerthImage(t, dataDir, "import", imageLayout(t, "bars/hello:v1", "new"))

	want := fmt.Sprintf("deleted 3 blobs (%s) and 0 unpacked layers\n", humanSize(old.Size))
	if out := mustBerthImage(t, dataDir, "prune"); out != want {
		t.Errorf("prune printed %q, want %q", out, want)
	}
	if out := mustBerthImage(t, dataDir, "prune"); out != "deleted 0 blobs (0B) and 0 unpacked layers\n" {
		t.Errorf("second prune printed %q, want nothing deleted", out)
	}
	img := getImage(t, openImageStore(t, dataDir), "bars/hello:v1")
	if img.ID() == old.ID() || len(img.Layers) != 1 {
		t.Errorf("after prune, bars/hello:v1 = %+v, want the new image intact", img)
	}
}

// layoutRegistry serves, on 127.0.0.1, the one image of the OCI layout in
// dir over the registry API, as far as a pull needs: /v2/, its manifest by
// the tag of its ref name annotation or by digest (GET and HEAD), and blobs.
// With userPassword ("user:password") it demands basic auth. It returns the
// registry's host:port.
func layoutRegistry(t *testing.T, dir, userPassword string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("layout %s: %v (want one image)", dir, err)
	}
	manifest := idx.Manifests[0]
	named, err := reference.ParseNormalizedNamed(manifest.Annotations[ocispec.AnnotationRefName])
	if err != nil {
		t.Fatal(err)
	}
	tag := reference.TagNameOnly(named).(reference.Tagged).Tag()

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, _ := r.BasicAuth(); userPassword != "" && u+":"+p != userPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		rest, _ := strings.CutPrefix(r.URL.Path, "/v2/")
		if rest == "" {
			return
		}
		var d digest.Digest
		mediaType := "application/octet-stream"
		if i := strings.LastIndex(rest, "/manifests/"); i > 0 {
			ref := rest[i+len("/manifests/"):]
			d, mediaType = digest.Digest(ref), manifest.MediaType
			if ref == tag {
				d = manifest.Digest
			}
		} else if i := strings.LastIndex(rest, "/blobs/"); i > 0 {
			d = digest.Digest(rest[i+len("/blobs/"):])
		}
		if d.Validate() != nil {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", mediaType)
		w.Header().Set("Docker-Content-Digest", d.String())
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestImagePull(t *testing.T) {
	layout := imageLayout(t, "bars/hello:v1", "hello")
	open := layoutRegistry(t, layout, "")
	locked := layoutRegistry(t, layout, "puller:s3cret")
	mirrors := []byte(fmt.Sprintf("mirrors:\n  docker.io:\n    endpoint: [\"http://%s\"]\n", open))

	pulls := func(t *testing.T, dataDir, want string, args ...string) {
		t.Helper()
		out := mustBerthImage(t, dataDir, append([]string{"pull"}, args...)...)
		img := getImage(t, openImageStore(t, dataDir), want)
		if line := fmt.Sprintf("pulled %s (%s)\n", want, img.ID()); out != line {
			t.Errorf("pull printed %q, want %q", out, line)
		}
		if img.Config.Entrypoint[0] != "/app" {
			t.Errorf("pulled %+v", img)
		}
	}
	t.Run("mirror from the data dir's registries.yaml", func(t *testing.T) {
		dataDir := t.TempDir()
		if err := os.WriteFile(registriesFile(dataDir), mirrors, 0o600); err != nil {
			t.Fatal(err)
		}
		pulls(t, dataDir, "docker.io/bars/hello:v1", "bars/hello:v1")
	})
	t.Run("mirror from --registries", func(t *testing.T) {
		pulls(t, t.TempDir(), "docker.io/bars/hello:v1", "bars/hello:v1", "--registries", writeTestFile(t, "regs.yaml", mirrors))
	})
	t.Run("no registries.yaml", func(t *testing.T) {
		pulls(t, t.TempDir(), open+"/bars/hello:v1", open+"/bars/hello:v1")
	})
	t.Run("--docker-config", func(t *testing.T) {
		dataDir := t.TempDir()
		if _, err := berthImage(t, nil, dataDir, "pull", locked+"/bars/hello:v1"); err == nil {
			t.Fatal("pull without credentials succeeded")
		}
		config := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, locked, base64.StdEncoding.EncodeToString([]byte("puller:s3cret")))
		pulls(t, dataDir, locked+"/bars/hello:v1", locked+"/bars/hello:v1", "--docker-config", writeTestFile(t, "config.json", []byte(config)))
	})
	t.Run("missing --registries", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "registries.yaml")
		_, err := berthImage(t, nil, t.TempDir(), "pull", "bars/hello:v1", "--registries", missing)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("pull = %v, want an error naming %s", err, missing)
		}
	})
}

func TestImageHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{999, "999B"},
		{1000, "1kB"},
		{1234, "1.23kB"},
		{999_499, "999kB"},
		{999_500, "1MB"},
		{5_432_100, "5.43MB"},
		{12_000_000_000, "12GB"},
	} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

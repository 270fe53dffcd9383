package images

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/kubelet/images/imagetest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// newRegistry serves, on 127.0.0.1, a read-only registry of the images in
// OCI layouts: repos maps repository:tag to the layout holding it (as its
// only image). With a user, it demands basic auth. It answers the requests a
// pull makes: /v2/, manifests by tag or digest (GET and HEAD), blobs.
func newRegistry(t *testing.T, repos map[string]string, user, password string) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
		i := strings.LastIndex(rest, "/manifests/")
		j := strings.LastIndex(rest, "/blobs/")
		switch {
		case ok && i > 0:
			serveManifest(w, r, repos, rest[:i], rest[i+len("/manifests/"):])
		case ok && j > 0:
			if dir, ok := layoutOf(repos, rest[:j]); ok {
				http.ServeFile(w, r, filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(rest[j+len("/blobs/"):], "sha256:")))
				return
			}
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func layoutOf(repos map[string]string, repo string) (string, bool) {
	for k, dir := range repos {
		if strings.HasPrefix(k, repo+":") {
			return dir, true
		}
	}
	return "", false
}

// serveManifest serves a tag's manifest (the layout's index.json entry) or
// any manifest blob of the layout by digest.
func serveManifest(w http.ResponseWriter, r *http.Request, repos map[string]string, repo, ref string) {
	dir, ok := repos[repo+":"+ref]
	dgst := ""
	if strings.HasPrefix(ref, "sha256:") {
		dir, ok = layoutOf(repos, repo)
		dgst = ref
	} else if ok {
		b, _ := os.ReadFile(filepath.Join(dir, "index.json"))
		var idx ocispec.Index
		json.Unmarshal(b, &idx)
		dgst = idx.Manifests[0].Digest.String()
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(dgst, "sha256:")))
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	var peek struct{ MediaType string }
	json.Unmarshal(b, &peek)
	w.Header().Set("Content-Type", peek.MediaType)
	w.Header().Set("Docker-Content-Digest", dgst)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func TestPull(t *testing.T) {
	ctx := context.Background()
	dir := layout(t, "berth.test/app:v1", ocispec.ImageConfig{Cmd: []string{"/app"}}, []imagetest.File{{Name: "app", Mode: 0o755, Body: []byte("bin")}})
	open := newRegistry(t, map[string]string{"bars/hello:v1": dir}, "", "")
	locked := newRegistry(t, map[string]string{"team/app:v1": dir}, "puller", "s3cret")
	secret := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, "http://"+locked, base64.StdEncoding.EncodeToString([]byte("puller:s3cret")))

	t.Run("localhost registry", func(t *testing.T) {
		s := newStore(t, Config{})
		img, err := s.Pull(ctx, open+"/bars/hello:v1")
		if err != nil {
			t.Fatal(err)
		}
		if img.Name != open+"/bars/hello:v1" || img.Config.Cmd[0] != "/app" {
			t.Errorf("pulled %+v", img)
		}
		byDigest, err := s.Pull(ctx, open+"/bars/hello@"+img.Target.Digest.String())
		if err != nil || byDigest.ID() != img.ID() {
			t.Errorf("pull by digest = %v, %v", byDigest.ID(), err)
		}
	})
	t.Run("docker.io through a mirror", func(t *testing.T) {
		regs := filepath.Join(t.TempDir(), "registries.yaml")
		os.WriteFile(regs, []byte("mirrors:\n  docker.io:\n    endpoint:\n      - http://"+open+"\n"), 0o644)
		r, err := LoadRegistries(regs)
		if err != nil {
			t.Fatal(err)
		}
		s := newStore(t, Config{Registries: r})
		img, err := s.Pull(ctx, "bars/hello:v1")
		if err != nil {
			t.Fatal(err)
		}
		if img.Name != "docker.io/bars/hello:v1" {
			t.Errorf("pulled %s", img.Name)
		}
	})
	t.Run("imagePullSecret", func(t *testing.T) {
		s := newStore(t, Config{})
		if _, err := s.Pull(ctx, locked+"/team/app:v1"); err == nil || !strings.Contains(err.Error(), "credential") {
			t.Errorf("pull without credentials = %v, want a credential error", err)
		}
		if _, err := s.Pull(ctx, locked+"/team/app:v1", WithDockerConfig([]byte(secret))); err != nil {
			t.Errorf("pull with secret: %v", err)
		}
	})
	t.Run("registries.yaml credentials", func(t *testing.T) {
		s := newStore(t, Config{Registries: Registries{Configs: map[string]RegistryConfig{
			locked: {Auth: &RegistryAuth{Username: "puller", Password: "s3cret"}},
		}}})
		if _, err := s.Pull(ctx, locked+"/team/app:v1"); err != nil {
			t.Errorf("pull: %v", err)
		}
	})
	t.Run("linux/amd64 from an index", func(t *testing.T) {
		multi := newRegistry(t, map[string]string{"multi:v1": platformLayout(t, "arm64", "amd64")}, "", "")
		s := newStore(t, Config{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}})
		img, err := s.Pull(ctx, multi+"/multi:v1")
		if err != nil {
			t.Fatal(err)
		}
		if img.Target.MediaType != ocispec.MediaTypeImageIndex || img.Config.Cmd[0] != "native" {
			t.Errorf("pulled %+v", img)
		}
	})
	t.Run("missing tag", func(t *testing.T) {
		s := newStore(t, Config{})
		_, err := s.Pull(ctx, open+"/bars/hello:nope")
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Pull = %v, want ErrNotFound", err)
		}
		if list, _ := s.List(ctx); len(list) != 0 {
			t.Errorf("a failed pull named %d images", len(list))
		}
	})
}

func TestLoadRegistriesRefusesBadEndpoints(t *testing.T) {
	p := filepath.Join(t.TempDir(), "registries.yaml")
	os.WriteFile(p, []byte("mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n"), 0o644)
	if _, err := LoadRegistries(p); err == nil || !strings.Contains(err.Error(), "ftp://x") {
		t.Errorf("LoadRegistries = %v", err)
	}
}

package checkout

import (
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"berth.dev/berth/release/gitops/checkout/gittest"
)

// gitHTTPS is a smart HTTP git server with TLS and basic auth serving one
// repository at /repo.git, read-only.
type gitHTTPS struct {
	url string
	// ca is the server's certificate as PEM.
	ca []byte
	// packs counts upload-pack requests, the fetches that transfer objects.
	packs atomic.Int64
}

func serveHTTPS(t *testing.T, dir, user, password string) *gitHTTPS {
	t.Helper()
	g := &gitHTTPS{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		var err error
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/repo.git/info/refs" && r.URL.Query().Get("service") == "git-upload-pack":
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			err = advertise(r.Context(), dir, true, w)
		case r.Method == http.MethodPost && r.URL.Path == "/repo.git/git-upload-pack":
			g.packs.Add(1)
			w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
			err = uploadPack(r.Context(), dir, r.Body, w)
		default:
			http.NotFound(w, r)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	// Quiet the handshake errors of the test that withholds the CA.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g.url = srv.URL + "/repo.git"
	g.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return g
}

func TestFetchHTTPS(t *testing.T) {
	up := gittest.New(t, "main")
	first := up.Commit(map[string]string{"a.txt": "one", "sub/b.txt": "bee"})
	up.Tag("v1", first, "release v1\n")
	srv := serveHTTPS(t, up.Dir, "berth", "s3cret")
	url := srv.url
	auth := Auth{Username: "berth", Password: "s3cret", CA: srv.ca}
	dir := t.TempDir()

	t.Run("default branch", func(t *testing.T) {
		res, err := Fetch(t.Context(), Options{URL: url, Auth: auth, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ref != "main@sha1:"+first.String() {
			t.Errorf("Ref = %q, want main at %s", res.Ref, first)
		}
		wantFiles(t, dir, map[string]string{"a.txt": "one", "sub/b.txt": "bee"})
	})
	second := up.Commit(map[string]string{"a.txt": "two", "sub/b.txt": ""})
	t.Run("branch follows the tip", func(t *testing.T) {
		res, err := Fetch(t.Context(), Options{URL: url, Ref: Ref{Branch: "main"}, Auth: auth, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if res.Commit != second.String() {
			t.Errorf("Commit = %s, want the new tip %s", res.Commit, second)
		}
		wantFiles(t, dir, map[string]string{"a.txt": "two"})
	})
	t.Run("annotated tag", func(t *testing.T) {
		res, err := Fetch(t.Context(), Options{URL: url, Ref: Ref{Tag: "v1"}, Auth: auth, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ref != "v1@sha1:"+first.String() {
			t.Errorf("Ref = %q, want v1 at %s", res.Ref, first)
		}
		wantFiles(t, dir, map[string]string{"a.txt": "one", "sub/b.txt": "bee"})
	})
	t.Run("unchanged ref is not fetched again", func(t *testing.T) {
		before := srv.packs.Load()
		res, err := Fetch(t.Context(), Options{URL: url, Ref: Ref{Tag: "v1"}, Auth: auth, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if res.Commit != first.String() {
			t.Errorf("Commit = %s, want %s", res.Commit, first)
		}
		if n := srv.packs.Load() - before; n != 0 {
			t.Errorf("Fetch asked for %d packs, want none", n)
		}
	})
	t.Run("commit", func(t *testing.T) {
		res, err := Fetch(t.Context(), Options{URL: url, Ref: Ref{Commit: second.String()}, Auth: auth, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ref != "sha1:"+second.String() {
			t.Errorf("Ref = %q, want %s", res.Ref, second)
		}
	})
	for _, ref := range []Ref{{Branch: "nope"}, {Tag: "v9"}, {Commit: strings.Repeat("ab", 20)}} {
		t.Run("missing "+ref.String(), func(t *testing.T) {
			_, err := Fetch(t.Context(), Options{URL: url, Ref: ref, Auth: auth, Dir: t.TempDir()})
			if !errors.Is(err, ErrRefNotFound) || !strings.Contains(err.Error(), url) {
				t.Errorf("Fetch error = %v, want ErrRefNotFound naming %s", err, url)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		bad := auth
		bad.Password = "guess"
		_, err := Fetch(t.Context(), Options{URL: url, Auth: bad, Dir: t.TempDir()})
		if !errors.Is(err, transport.ErrAuthenticationRequired) {
			t.Errorf("Fetch error = %v, want authentication required", err)
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		plain := auth
		plain.CA = nil
		if _, err := Fetch(t.Context(), Options{URL: url, Auth: plain, Dir: t.TempDir()}); err == nil {
			t.Error("Fetch trusted a certificate from no known CA")
		}
	})
}

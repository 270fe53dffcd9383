// Package imagetest builds berth's test images without a network: the tiny Go
// programs under testdata/images/<name> (compiled static, CGO_ENABLED=0) and a
// busybox image from the host's /bin/busybox (Debian's busybox-static), each
// packed as an OCI image layout directory of one layer with an entrypoint.
//
// It is for tests (and the build command beside it); it must not be imported
// by the kubelet itself. Layouts are reproducible: fixed times and owners.
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	_ "crypto/sha256" // registers the algorithm go-digest computes
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// HostBusybox is where Debian's busybox-static puts its static binary.
const HostBusybox = "/bin/busybox"

// ErrNoBusybox: the host has no static busybox to make the busybox image from
// (install Debian's busybox-static).
var ErrNoBusybox = errors.New("no static busybox on this host (install busybox-static)")

// Programs returns the names of the test programs under testdata/images.
func Programs() []string { return []string{"hello", "crash", "hog"} }

// File is one entry of a test layer. Name is written to the tar as given
// (tests use it for hostile names too).
type File struct {
	Name     string
	Mode     int64  // permission bits; 0 means 0644 (0755 for directories)
	Body     []byte // content of a regular file
	Symlink  string // if set, the entry is a symlink to this target
	Hardlink string // if set, the entry is a hard link to this name
	Dir      bool
}

// epoch is the time of every entry and config, so layouts are reproducible.
func epoch() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// sourceDir is testdata/images in this repository.
func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("locating testdata/images: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "images"), nil
}

// BuildProgram compiles testdata/images/<name> as a static binary and writes
// an OCI layout of it to outDir, named ref, with entrypoint /<name>.
func BuildProgram(ctx context.Context, name, ref, outDir string) (ocispec.Descriptor, error) {
	src, err := sourceDir()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	tmp, err := os.MkdirTemp("", "berth-imagetest-")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = filepath.Join(src, name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("building test image %s: %w\n%s", name, err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg := ocispec.ImageConfig{
		Entrypoint: []string{"/" + name},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		WorkingDir: "/",
	}
	if name == "hello" {
		cfg.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	}
	return WriteLayout(outDir, ref, cfg, []File{{Name: name, Mode: 0o755, Body: body}})
}

// Busybox writes an OCI layout of the static busybox binary at path (usually
// HostBusybox) as /bin/busybox with a symlink per applet (bin/sh -> busybox,
// ...), named ref, with cmd sh.
func Busybox(ctx context.Context, path, ref, outDir string) (ocispec.Descriptor, error) {
	body, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ocispec.Descriptor{}, ErrNoBusybox
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("reading %s: %w", path, err)
	}
	out, err := exec.CommandContext(ctx, path, "--list").Output()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("listing busybox applets: %w", err)
	}
	files := []File{{Name: "bin/", Dir: true}, {Name: "bin/busybox", Mode: 0o755, Body: body},
		{Name: "tmp/", Dir: true, Mode: 0o1777}, {Name: "etc/", Dir: true}}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			files = append(files, File{Name: "bin/" + applet, Symlink: "busybox"})
		}
	}
	cfg := ocispec.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}
	return WriteLayout(outDir, ref, cfg, files)
}

// WriteLayout writes an OCI image layout to dir holding one image named ref
// (io.containerd.image.name and org.opencontainers.image.ref.name), for
// linux/GOARCH, with one gzip layer per element of layers.
func WriteLayout(dir, ref string, cfg ocispec.ImageConfig, layers ...[]File) (ocispec.Descriptor, error) {
	w := layoutWriter{dir: dir}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return ocispec.Descriptor{}, err
	}
	created := epoch()
	img := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest}
	for _, files := range layers {
		tarball, err := Tar(files)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.ModTime = created
		if _, err := zw.Write(tarball); err != nil {
			return ocispec.Descriptor{}, err
		}
		if err := zw.Close(); err != nil {
			return ocispec.Descriptor{}, err
		}
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, digest.FromBytes(tarball))
		d, err := w.blob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		m.Layers = append(m.Layers, d)
	}
	var err error
	if m.Config, err = w.json(ocispec.MediaTypeImageConfig, img); err != nil {
		return ocispec.Descriptor{}, err
	}
	md, err := w.json(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md.Platform = &img.Platform
	md.Annotations = map[string]string{"io.containerd.image.name": ref, ocispec.AnnotationRefName: ref}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}}
	if err := w.file("index.json", idx); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := w.file(ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		return ocispec.Descriptor{}, err
	}
	return md, nil
}

// Tar makes an uncompressed tar of files, in the order given.
func Tar(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Mode: f.Mode, ModTime: epoch(), Typeflag: tar.TypeReg, Size: int64(len(f.Body))}
		switch {
		case f.Symlink != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size, hdr.Mode = tar.TypeSymlink, f.Symlink, 0, 0o777
		case f.Hardlink != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, f.Hardlink, 0
		case f.Dir:
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
			if hdr.Mode == 0 {
				hdr.Mode = 0o755
			}
		case hdr.Mode == 0:
			hdr.Mode = 0o644
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("writing tar entry %q: %w", f.Name, err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, fmt.Errorf("writing tar entry %q: %w", f.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TarDir makes an uncompressed tar of the OCI layout (or any tree) in dir,
// entries sorted by name, for tests of archive import.
func TarDir(dir string) ([]byte, error) {
	var files []File
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		files = append(files, File{Name: filepath.ToSlash(rel), Body: body})
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return Tar(files)
}

type layoutWriter struct{ dir string }

func (w layoutWriter) blob(mediaType string, b []byte) (ocispec.Descriptor, error) {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	return d, os.WriteFile(filepath.Join(w.dir, "blobs", "sha256", d.Digest.Encoded()), b, 0o644)
}

func (w layoutWriter) json(mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return w.blob(mediaType, b)
}

func (w layoutWriter) file(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.dir, name), b, 0o644)
}

// Command mkimages writes berth's test images as OCI layout tars, ready for
// `berth image import`:
//
//	go run ./kubelet/images/imagetest/mkimages -o /tmp/images
//
// gives hello.tar, crash.tar and hog.tar (named berth.test/<name>:latest) and,
// where /bin/busybox exists (Debian's busybox-static), busybox.tar
// (docker.io/library/busybox:latest).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"berth.dev/berth/kubelet/images/imagetest"
)

func main() {
	out := flag.String("o", ".", "directory to write the image tars to")
	prefix := flag.String("prefix", "berth.test/", "prefix of the test programs' image names")
	flag.Parse()
	if err := run(context.Background(), *out, *prefix); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, prefix string) error {
	tmp, err := os.MkdirTemp("", "mkimages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	build := map[string]func(dir string) error{}
	for _, name := range imagetest.Programs() {
		build[name] = func(dir string) error {
			_, err := imagetest.BuildProgram(ctx, name, prefix+name+":latest", dir)
			return err
		}
	}
	build["busybox"] = func(dir string) error {
		_, err := imagetest.Busybox(ctx, imagetest.HostBusybox, "docker.io/library/busybox:latest", dir)
		return err
	}
	for name, f := range build {
		dir := filepath.Join(tmp, name)
		if err := f(dir); errors.Is(err, imagetest.ErrNoBusybox) {
			fmt.Fprintln(os.Stderr, "mkimages: skipping busybox:", err)
			continue
		} else if err != nil {
			return err
		}
		b, err := imagetest.TarDir(dir)
		if err != nil {
			return fmt.Errorf("packing %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name+".tar"), b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		fmt.Println(filepath.Join(out, name+".tar"))
	}
	return nil
}

package server

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// repositoriesPath is where distribution's storage layout keeps repositories;
// an upload in progress is <repositoriesPath>/<name>/_uploads/<id>/, holding
// its data so far and a startedat file (RFC 3339).
const repositoriesPath = "/docker/registry/v2/repositories"

// purgeUploads deletes (or with dryRun only counts) the uploads started
// before olderThan, and returns how many there were and the bytes they held.
// Distribution's PurgeUploads does the same but logs through logrus's
// standard logger.
func purgeUploads(ctx context.Context, d storagedriver.StorageDriver, olderThan time.Time, dryRun bool) (count int, size int64, err error) {
	var errs []error
	walkErr := d.Walk(ctx, repositoriesPath, func(fi storagedriver.FileInfo) error {
		if !fi.IsDir() {
			return nil
		}
		switch path.Base(fi.Path()) {
		case "_manifests", "_layers":
			return storagedriver.ErrSkipDir
		case "_uploads":
		default:
			return nil
		}
		ids, err := d.List(ctx, fi.Path())
		if err != nil {
			errs = append(errs, fmt.Errorf("listing uploads in %s: %w", fi.Path(), err))
			return storagedriver.ErrSkipDir
		}
		for _, dir := range ids {
			started, err := uploadStarted(ctx, d, dir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !started.Before(olderThan) {
				continue
			}
			var n int64
			if st, err := d.Stat(ctx, path.Join(dir, "data")); err == nil {
				n = st.Size()
			}
			if !dryRun {
				if err := d.Delete(ctx, dir); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("deleting upload %s: %w", dir, err))
					continue
				}
			}
			count++
			size += n
		}
		return storagedriver.ErrSkipDir
	})
	if walkErr != nil && !isNotFound(walkErr) {
		errs = append(errs, fmt.Errorf("walking uploads: %w", walkErr))
	}
	return count, size, errors.Join(errs...)
}

// uploadStarted is when the upload in dir started: its startedat file, or the
// directory's modification time when that is missing (an upload cut off
// before distribution wrote it).
func uploadStarted(ctx context.Context, d storagedriver.StorageDriver, dir string) (time.Time, error) {
	b, err := d.GetContent(ctx, path.Join(dir, "startedat"))
	if err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b))); err == nil {
			return t, nil
		}
	}
	st, err := d.Stat(ctx, dir)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading upload %s: %w", dir, err)
	}
	return st.ModTime(), nil
}

func isNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}

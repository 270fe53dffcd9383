package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
	maxPathLength  = 4096
	maxFileLength  = 255
)

// FileProjection is one file of a payload: its content, permission bits and,
// when set, its group (the pod's fsGroup).
type FileProjection struct {
	Data    []byte
	Mode    int32
	FsGroup *int64
}

// AtomicWriter writes payloads into a directory so that readers never see a
// half-written one, as upstream's AtomicWriter: the files go into a new
// timestamped directory (..2006_01_02_15_04_05.NNN), the ..data symlink is
// swapped to it with a rename, and each top-level name is a symlink through
// ..data. Writing an unchanged payload touches nothing.
type AtomicWriter struct {
	targetDir string
	now       func() time.Time
}

// NewAtomicWriter returns a writer into targetDir, which must exist; now names
// the timestamped directories.
func NewAtomicWriter(targetDir string, now func() time.Time) *AtomicWriter {
	return &AtomicWriter{targetDir: targetDir, now: now}
}

// Write makes targetDir hold exactly payload, keyed by relative path.
func (w *AtomicWriter) Write(payload map[string]FileProjection) error {
	clean := make(map[string]FileProjection, len(payload))
	for p, f := range payload {
		if err := validatePath(p); err != nil {
			return err
		}
		clean[filepath.Clean(p)] = f
	}

	dataDir := filepath.Join(w.targetDir, dataDirName)
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", dataDir, err)
	}
	var oldTsPath string
	if oldTs != "" {
		oldTsPath = filepath.Join(w.targetDir, oldTs)
	}
	stale, err := stalePaths(oldTsPath, clean)
	if err != nil {
		return err
	}
	write := oldTs == "" || len(stale) > 0
	if !write {
		if write, err = differs(oldTsPath, clean); err != nil {
			return err
		}
	}

	if write {
		tsDir, err := os.MkdirTemp(w.targetDir, w.now().UTC().Format("..2006_01_02_15_04_05."))
		if err != nil {
			return fmt.Errorf("creating a timestamped directory in %s: %w", w.targetDir, err)
		}
		// Group and others must be able to traverse, whatever the umask.
		if err := os.Chmod(tsDir, 0o755); err != nil {
			return err
		}
		if err := writePayload(tsDir, clean); err != nil {
			_ = os.RemoveAll(tsDir)
			return err
		}
		tmpLink := filepath.Join(w.targetDir, newDataDirName)
		if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("linking %s: %w", tmpLink, err)
		}
		if err := os.Rename(tmpLink, dataDir); err != nil {
			_ = os.Remove(tmpLink)
			_ = os.RemoveAll(tsDir)
			return fmt.Errorf("swapping %s: %w", dataDir, err)
		}
	}

	for top := range topLevel(clean) {
		link := filepath.Join(w.targetDir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
			return fmt.Errorf("linking %s: %w", link, err)
		}
	}
	for _, p := range stale {
		if strings.ContainsRune(p, filepath.Separator) {
			continue // only top-level names have user-visible links
		}
		if err := os.Remove(filepath.Join(w.targetDir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if write && oldTsPath != "" {
		if err := os.RemoveAll(oldTsPath); err != nil {
			return fmt.Errorf("removing old data %s: %w", oldTsPath, err)
		}
	}
	return nil
}

// validatePath refuses payload paths that could leave the target directory or
// clash with the writer's own names.
func validatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("invalid path: must not be empty")
	case len(p) > maxPathLength:
		return fmt.Errorf("invalid path %q: must be less than or equal to %d characters", p, maxPathLength)
	case filepath.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative path", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	for _, seg := range strings.Split(p, string(filepath.Separator)) {
		if seg == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
		if len(seg) > maxFileLength {
			return fmt.Errorf("invalid path %q: must not contain a segment longer than %d characters", p, maxFileLength)
		}
	}
	return nil
}

// stalePaths lists the paths (files and directories) of the old data directory
// that the new payload no longer has.
func stalePaths(oldTsPath string, payload map[string]FileProjection) ([]string, error) {
	if oldTsPath == "" {
		return nil, nil
	}
	keep := map[string]bool{}
	for p := range payload {
		for d := p; d != "." && d != "/"; d = filepath.Dir(d) {
			keep[d] = true
		}
	}
	var stale []string
	err := filepath.WalkDir(oldTsPath, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(oldTsPath, path)
		if err != nil || rel == "." {
			return err
		}
		if !keep[rel] {
			stale = append(stale, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading old data %s: %w", oldTsPath, err)
	}
	return stale, nil
}

// differs reports whether any payload file's content or mode differs from the
// old data directory's.
func differs(oldTsPath string, payload map[string]FileProjection) (bool, error) {
	for p, f := range payload {
		full := filepath.Join(oldTsPath, p)
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != fs.FileMode(f.Mode)&fs.ModePerm {
			return true, nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && f.FsGroup != nil && int64(st.Gid) != *f.FsGroup {
			return true, nil
		}
		old, err := os.ReadFile(full)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(old, f.Data) {
			return true, nil
		}
	}
	return false, nil
}

func writePayload(dir string, payload map[string]FileProjection) error {
	for p, f := range payload {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := fs.FileMode(f.Mode) & fs.ModePerm
		if err := os.WriteFile(full, f.Data, mode); err != nil {
			return fmt.Errorf("writing %s: %w", full, err)
		}
		if f.FsGroup != nil {
			if err := os.Lchown(full, -1, int(*f.FsGroup)); err != nil {
				return fmt.Errorf("giving %s to group %d: %w", full, *f.FsGroup, err)
			}
		}
		// WriteFile's mode is filtered by the umask (and chown may clear bits).
		if err := os.Chmod(full, mode); err != nil {
			return err
		}
	}
	return nil
}

// topLevel returns the first path component of every payload path.
func topLevel(payload map[string]FileProjection) map[string]bool {
	out := map[string]bool{}
	for p := range payload {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		out[top] = true
	}
	return out
}

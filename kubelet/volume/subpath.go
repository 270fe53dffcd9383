package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OpenSubPath opens subPath inside the volume at volumePath, creating it as a
// directory when it does not exist. Neither ".." nor a symlink (absolute or
// relative, at any component) may lead outside the volume. The runtime should
// bind-mount /proc/self/fd/<fd> of the returned file rather than a path, so the
// volume's owner cannot swap a component for a symlink in between.
func OpenSubPath(volumePath, subPath string) (*os.File, error) {
	if filepath.IsAbs(subPath) {
		return nil, fmt.Errorf("subPath %q must be a relative path", subPath)
	}
	for _, seg := range strings.Split(subPath, "/") {
		if seg == ".." {
			return nil, fmt.Errorf("subPath %q must not contain '..'", subPath)
		}
	}
	root, err := os.OpenRoot(volumePath)
	if err != nil {
		return nil, fmt.Errorf("opening volume %s: %w", volumePath, err)
	}
	defer root.Close()
	if _, err := root.Stat(subPath); errors.Is(err, fs.ErrNotExist) {
		if err := root.MkdirAll(subPath, 0o755); err != nil {
			return nil, fmt.Errorf("subpath %q not within volume path %q or not creatable: %w", subPath, volumePath, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("subpath %q not within volume path %q: %w", subPath, volumePath, err)
	}
	f, err := root.Open(subPath)
	if err != nil {
		return nil, fmt.Errorf("subpath %q not within volume path %q: %w", subPath, volumePath, err)
	}
	return f, nil
}

// SubPath resolves subPath inside the volume at volumePath to a host path, as
// OpenSubPath does (and with its refusals).
func SubPath(volumePath, subPath string) (string, error) {
	f, err := OpenSubPath(volumePath, subPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	resolved, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", fmt.Errorf("resolving subpath %q of %s: %w", subPath, volumePath, err)
	}
	base, err := filepath.EvalSymlinks(volumePath)
	if err != nil {
		return "", err
	}
	if resolved != base && !strings.HasPrefix(resolved, base+"/") {
		return "", fmt.Errorf("subpath %q not within volume path %q", subPath, volumePath)
	}
	return resolved, nil
}

package images

import "regexp"

// Rootfs is a container's root filesystem.
type Rootfs struct {
	// Path is the directory to use as the container's root.
	Path string
	// Overlay is true for an overlayfs mount, false for a copy of the layers.
	Overlay bool
}

// containerIDPattern keeps container ids usable as one path component.
var containerIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

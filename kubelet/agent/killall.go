package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/noderoutes"
	"berth.dev/berth/kubelet/podnet"
)

// KillAll ends everything an agent with directory dir, cgroup root
// cgroupRoot and pod bridge bridge left running, as k3s-killall.sh does for
// k3s: every process in the pods' cgroups (containers and sandbox holders
// outlive the agent by design), the cgroups in every hierarchy (cgroup v2, or
// each v1 controller), the mounts under dir, the pod network's links and
// nftables table, and the routes to other nodes' pods. The cluster's state is kept: an agent started again
// re-creates the pods, with the addresses they had.
func KillAll(dir, cgroupRoot, bridge string) error {
	if !filepath.IsAbs(cgroupRoot) || filepath.Clean(cgroupRoot) == "/" {
		return fmt.Errorf("cgroup root %q must be an absolute path below /", cgroupRoot)
	}
	var trees []string
	for _, h := range cgroupHierarchies() {
		cg := filepath.Join(h, cgroupRoot)
		if _, err := os.Stat(cg); err == nil {
			trees = append(trees, cg)
			killCgroupTree(cg)
		}
	}
	var errs []error
	for _, cg := range trees {
		errs = append(errs, removeCgroupTree(cg))
	}
	errs = append(errs, unmountUnder(dir), podnet.Clean(bridge), noderoutes.Clean(0))
	return errors.Join(errs...)
}

// cgroupHierarchies are the mounted cgroup hierarchies: the unified one,
// and on hybrid hosts each v1 controller's.
func cgroupHierarchies() []string {
	hs := []string{"/sys/fs/cgroup"}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return hs
	}
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", e.Name(), "cgroup.procs")); err == nil {
				hs = append(hs, filepath.Join("/sys/fs/cgroup", e.Name()))
			}
		}
	}
	return hs
}

// killCgroupTree kills every process in a cgroup and its descendants: with
// cgroup.kill where the kernel has it (v2), else one by one.
func killCgroupTree(root string) {
	if err := os.WriteFile(filepath.Join(root, "cgroup.kill"), []byte("1"), 0); err == nil {
		return
	}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		return nil
	})
}

// removeCgroupTree removes a cgroup and its descendants, deepest first,
// waiting a little for killed processes to be gone.
func removeCgroupTree(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

package runc

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime"
)

// defaultCapabilities is the set Docker and containerd give a container.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// Paths hidden from, or read-only to, unprivileged containers (containerd's
// defaults).
var (
	maskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// CFS period used for quotas, and the bounds of cpu shares, as upstream
// kubelet uses them.
const (
	cfsPeriod = 100000
	minShares = 2
	maxShares = 262144
	minQuota  = 1000
)

// milliCPUToShares converts a cpu request to cpu.shares: 1 cpu is 1024
// shares, no request gets the minimum of 2.
func milliCPUToShares(milli int64) uint64 {
	shares := milli * 1024 / 1000
	return uint64(min(max(shares, minShares), maxShares))
}

// milliCPUToQuota converts a cpu limit to a CFS quota per 100 ms period:
// 250m is 25000 µs; 0 is no quota.
func milliCPUToQuota(milli int64) int64 {
	if milli <= 0 {
		return 0
	}
	return max(milli*cfsPeriod/1000, minQuota)
}

// capabilitySet applies add and drop to the default set the way containerd
// does: ALL in add starts from every capability, ALL in drop from none, then
// the named ones are added and dropped.
func capabilitySet(c runtime.Capabilities, privileged bool) ([]string, error) {
	all := allCapabilities()
	if privileged {
		return all, nil
	}
	norm := func(names []string) ([]string, bool, error) {
		var out []string
		hasAll := false
		for _, n := range names {
			n = strings.ToUpper(n)
			if n == "ALL" {
				hasAll = true
				continue
			}
			if !strings.HasPrefix(n, "CAP_") {
				n = "CAP_" + n
			}
			if !slices.Contains(all, n) {
				return nil, false, fmt.Errorf("%w: unknown capability %q", runtime.ErrInvalidSpec, n)
			}
			out = append(out, n)
		}
		return out, hasAll, nil
	}
	add, addAll, err := norm(c.Add)
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := norm(c.Drop)
	if err != nil {
		return nil, err
	}
	caps := slices.Clone(defaultCapabilities)
	if addAll {
		caps = slices.Clone(all)
	}
	if dropAll {
		caps = nil
	}
	for _, a := range add {
		if !slices.Contains(caps, a) {
			caps = append(caps, a)
		}
	}
	caps = slices.DeleteFunc(caps, func(s string) bool { return slices.Contains(drop, s) })
	return caps, nil
}

// allCapabilities is every capability this process may grant: those the
// kernel supports and our bounding set holds (a container can get no more).
func allCapabilities() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		if ok, err := capability.GetBound(c); err == nil && ok {
			out = append(out, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	return out
}

// nofileLimit is the container's open-files limit: the host's hard limit
// (raising past it fails), capped at the usual 1048576.
func nofileLimit() (configs.Rlimit, error) {
	var host unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &host); err != nil {
		return configs.Rlimit{}, fmt.Errorf("reading host RLIMIT_NOFILE: %w", err)
	}
	n := min(host.Max, 1<<20)
	return configs.Rlimit{Type: unix.RLIMIT_NOFILE, Soft: n, Hard: n}, nil
}

// containerEnv is what containerConfig needs besides the spec.
type containerEnv struct {
	id         string
	cgroupPath string
	sandboxPID int
	sharePID   bool
	shmDir     string
}

// containerConfig turns a spec into libcontainer's configuration via an OCI
// runtime spec.
func containerConfig(spec runtime.ContainerSpec, env containerEnv) (*configs.Config, error) {
	caps, err := capabilitySet(spec.Capabilities, spec.Privileged)
	if err != nil {
		return nil, err
	}
	const noexec = "noexec"
	sysOpt := "ro"
	if spec.Privileged {
		sysOpt = "rw"
	}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", noexec, "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", noexec, "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", noexec, "nodev"}},
		{Destination: "/dev/shm", Type: "bind", Source: env.shmDir, Options: []string{"rbind", "nosuid", noexec, "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", noexec, "nodev", sysOpt}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", noexec, "nodev", "relatime", sysOpt}},
	}
	for _, m := range spec.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Destination) {
			return nil, fmt.Errorf("%w: mount %q on %q: paths must be absolute", runtime.ErrInvalidSpec, m.Source, m.Destination)
		}
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}

	nsPath := func(ns string) string { return fmt.Sprintf("/proc/%d/ns/%s", env.sandboxPID, ns) }
	namespaces := []specs.LinuxNamespace{
		{Type: specs.MountNamespace},
		{Type: specs.NetworkNamespace, Path: nsPath("net")},
		{Type: specs.IPCNamespace, Path: nsPath("ipc")},
		{Type: specs.UTSNamespace, Path: nsPath("uts")},
	}
	if env.sharePID {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: nsPath("pid")})
	} else {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if cgroups.IsCgroup2UnifiedMode() {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}

	res := &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Shares: ptr(milliCPUToShares(spec.Resources.CPURequestMilli))},
	}
	if q := milliCPUToQuota(spec.Resources.CPULimitMilli); q > 0 {
		res.CPU.Quota, res.CPU.Period = ptr(q), ptr(uint64(cfsPeriod))
	}
	if spec.Resources.MemoryLimitBytes > 0 {
		res.Memory = &specs.LinuxMemory{Limit: ptr(spec.Resources.MemoryLimitBytes)}
	}
	if spec.Resources.PidsLimit > 0 {
		res.Pids = &specs.LinuxPids{Limit: ptr(spec.Resources.PidsLimit)}
	}
	linux := &specs.Linux{
		Namespaces:  namespaces,
		CgroupsPath: env.cgroupPath,
		Resources:   res,
	}
	if spec.Privileged {
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		linux.MaskedPaths, linux.ReadonlyPaths = slices.Clone(maskedPaths), slices.Clone(readonlyPaths)
	}

	oci := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: spec.Rootfs, Readonly: spec.ReadOnlyRootfs},
		Process: &specs.Process{
			User:            specs.User{UID: spec.User.UID, GID: spec.User.GID},
			NoNewPrivileges: spec.NoNewPrivileges,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Mounts: mounts,
		Linux:  linux,
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: env.id, Spec: oci})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrInvalidSpec, err)
	}
	return cfg, nil
}

// newProcess is a process of a container, running as user in cwd (/ when
// empty) with the host-derived open-files limit.
func newProcess(args, env []string, cwd string, user runtime.User) (*libcontainer.Process, error) {
	nofile, err := nofileLimit()
	if err != nil {
		return nil, err
	}
	groups := make([]int, len(user.Groups))
	for i, g := range user.Groups {
		groups[i] = int(g)
	}
	if cwd == "" {
		cwd = "/"
	}
	return &libcontainer.Process{
		Args:             args,
		Env:              env,
		Cwd:              cwd,
		UID:              int(user.UID),
		GID:              int(user.GID),
		AdditionalGroups: groups,
		Rlimits:          []configs.Rlimit{nofile},
	}, nil
}

func ptr[T any](v T) *T { return &v }

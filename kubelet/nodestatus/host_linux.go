package nodestatus

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Facts reads the host's facts from /proc, /sys, /etc and system calls. Only
// what a node cannot do without (cpus, memory, the file system) is an error
// when unreadable; identifiers that are missing stay empty.
func (LocalHost) Facts(ctx context.Context, fsPath string) (Facts, error) {
	var f Facts
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		return Facts{}, fmt.Errorf("reading the cpus this process may use: %w", err)
	}
	f.CPUs = cpus.Count()

	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return Facts{}, fmt.Errorf("reading memory: %w", err)
	}
	if f.MemoryBytes, f.MemoryAvailableBytes, err = parseMeminfo(meminfo); err != nil {
		return Facts{}, fmt.Errorf("reading memory: /proc/meminfo: %w", err)
	}

	var fs unix.Statfs_t
	if err := unix.Statfs(fsPath, &fs); err != nil {
		return Facts{}, fmt.Errorf("reading the file system of %s: %w", fsPath, err)
	}
	f.FSBytes = int64(fs.Blocks) * int64(fs.Bsize)
	f.FSAvailableBytes = int64(fs.Bavail) * int64(fs.Bsize)
	f.FSInodes, f.FSInodesFree = int64(fs.Files), int64(fs.Ffree)

	if f.PIDLimit, f.PIDs, err = pids(); err != nil {
		return Facts{}, fmt.Errorf("reading process limits: %w", err)
	}

	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return Facts{}, fmt.Errorf("reading the kernel version: %w", err)
	}
	f.KernelVersion = unix.ByteSliceToString(uts.Release[:])

	f.MachineID = firstLine("/etc/machine-id", "/var/lib/dbus/machine-id")
	f.SystemUUID = firstLine("/sys/class/dmi/id/product_uuid")
	if f.SystemUUID == "" {
		f.SystemUUID = f.MachineID
	}
	f.BootID = firstLine("/proc/sys/kernel/random/boot_id")
	f.OSImage = "Linux"
	for _, path := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if data, err := os.ReadFile(path); err == nil {
			if name := parseOSRelease(data); name != "" {
				f.OSImage = name
				break
			}
		}
	}
	f.InternalIP = detectInternalIP()
	return f, nil
}

// detectInternalIP picks the first global unicast IPv4 address of the
// interface holding the default route, else of any up interface, else
// 127.0.0.1.
func detectInternalIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	if routes, err := os.ReadFile("/proc/net/route"); err == nil {
		if name := defaultRouteInterface(routes); name != "" {
			for _, iface := range ifaces {
				if iface.Name == name {
					if ip := firstIPv4([]net.Interface{iface}); ip != "" {
						return ip
					}
				}
			}
		}
	}
	if ip := firstIPv4(ifaces); ip != "" {
		return ip
	}
	return "127.0.0.1"
}

// defaultRouteInterface returns the interface of the first IPv4 default route
// in the text of /proc/net/route, or "".
func defaultRouteInterface(routes []byte) string {
	const flagUp = 0x1
	lines := bufio.NewScanner(bytes.NewReader(routes))
	lines.Scan() // the header
	for lines.Scan() {
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		fields := strings.Fields(lines.Text())
		if len(fields) < 8 || fields[1] != "00000000" || fields[7] != "00000000" {
			continue
		}
		if flags, err := strconv.ParseUint(fields[3], 16, 32); err == nil && flags&flagUp != 0 {
			return fields[0]
		}
	}
	return ""
}

// parseMeminfo returns MemTotal and MemAvailable, in bytes, from the text of
// /proc/meminfo.
func parseMeminfo(data []byte) (total, available int64, err error) {
	var haveTotal, haveAvailable bool
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		// "MemTotal:       16317392 kB"
		key, rest, ok := strings.Cut(lines.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", key, lines.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected %s line %q: %w", key, lines.Text(), err)
		}
		if key == "MemTotal" {
			total, haveTotal = kb*1024, true
		} else {
			available, haveAvailable = kb*1024, true
		}
	}
	if !haveTotal || !haveAvailable {
		return 0, 0, errors.New("no MemTotal or MemAvailable")
	}
	return total, available, nil
}

// parseOSRelease returns PRETTY_NAME from the text of an os-release file, or
// "".
func parseOSRelease(data []byte) string {
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		value, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "PRETTY_NAME=")
		if !ok {
			continue
		}
		if unquoted, err := strconv.Unquote(value); err == nil {
			return unquoted
		}
		return strings.Trim(value, `'"`)
	}
	return ""
}

// pids returns how many processes and threads the host allows (the smaller
// of pid_max and threads-max) and how many there are.
func pids() (limit, current int64, err error) {
	for _, path := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
		data, err := os.ReadFile(path)
		if err != nil {
			return 0, 0, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s: %w", path, err)
		}
		if limit == 0 || n < limit {
			limit = n
		}
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0, 0, fmt.Errorf("sysinfo: %w", err)
	}
	return limit, int64(info.Procs), nil
}

// firstLine returns the first line of the first readable file of paths,
// trimmed, or "".
func firstLine(paths ...string) string {
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		line, _, _ := strings.Cut(string(data), "\n")
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
	}
	return ""
}

package nodestatus

import (
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestLocalHostFacts(t *testing.T) {
	f, err := LocalHost{}.Facts(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if f.CPUs != runtime.NumCPU() {
		t.Errorf("CPUs %d, want %d (Go reads the same affinity mask)", f.CPUs, runtime.NumCPU())
	}
	if f.MemoryBytes <= 0 || f.MemoryAvailableBytes <= 0 || f.MemoryAvailableBytes > f.MemoryBytes {
		t.Errorf("memory %d, available %d", f.MemoryBytes, f.MemoryAvailableBytes)
	}
	if f.FSBytes <= 0 || f.FSAvailableBytes > f.FSBytes || f.FSInodesFree > f.FSInodes {
		t.Errorf("file system %d bytes, %d available, %d/%d inodes free", f.FSBytes, f.FSAvailableBytes, f.FSInodesFree, f.FSInodes)
	}
	if f.PIDs <= 0 || f.PIDLimit <= f.PIDs {
		t.Errorf("pids %d of %d", f.PIDs, f.PIDLimit)
	}
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	if f.BootID != strings.TrimSpace(string(bootID)) {
		t.Errorf("boot id %q, want %q", f.BootID, bootID)
	}
	if machineID, err := os.ReadFile("/etc/machine-id"); err == nil && f.MachineID != strings.TrimSpace(string(machineID)) {
		t.Errorf("machine id %q, want %q", f.MachineID, machineID)
	}
	if f.SystemUUID == "" && f.MachineID != "" {
		t.Error("system uuid empty though there is a machine id to fall back on")
	}
	if f.KernelVersion == "" || f.OSImage == "" {
		t.Errorf("kernel %q, os image %q", f.KernelVersion, f.OSImage)
	}
	if ip := net.ParseIP(f.InternalIP); ip == nil || ip.To4() == nil {
		t.Errorf("internal ip %q is not IPv4", f.InternalIP)
	}
}

func TestLocalHostFactsNeedTheFileSystem(t *testing.T) {
	if _, err := (LocalHost{}).Facts(context.Background(), t.TempDir()+"/missing"); err == nil || !strings.Contains(err.Error(), "file system") {
		t.Errorf("Facts on a missing path: %v, want a file system error", err)
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name             string
		text             string
		total, available int64
		wantErr          bool
	}{
		{"ok", "MemTotal:       16317392 kB\nMemFree:  100 kB\nMemAvailable:   8000000 kB\n", 16317392 * 1024, 8000000 * 1024, false},
		{"no available", "MemTotal: 100 kB\nMemFree: 50 kB\n", 0, 0, true},
		{"odd unit", "MemTotal: 100 MB\nMemAvailable: 50 kB\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, available, err := parseMeminfo([]byte(tt.text))
			if (err != nil) != tt.wantErr || total != tt.total || available != tt.available {
				t.Errorf("got %d, %d, %v; want %d, %d, error %v", total, available, err, tt.total, tt.available, tt.wantErr)
			}
		})
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := map[string]string{
		"NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n": "Debian GNU/Linux 12 (bookworm)",
		"PRETTY_NAME=Alpine\n":        "Alpine",
		"PRETTY_NAME='Single quoted'": "Single quoted",
		"NAME=Nothing pretty\n":       "",
	}
	for text, want := range tests {
		if got := parseOSRelease([]byte(text)); got != want {
			t.Errorf("parseOSRelease(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestDefaultRouteInterface(t *testing.T) {
	routes := `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
br0	0000A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth1	00000000	0100A8C0	0002	0	0	100	00000000	0	0	0
eth0	00000000	0100A8C0	0003	0	0	100	00000000	0	0	0
`
	if got := defaultRouteInterface([]byte(routes)); got != "eth0" {
		t.Errorf("default route interface %q, want eth0 (eth1's route is not up)", got)
	}
	if got := defaultRouteInterface([]byte("Iface\tDestination\n")); got != "" {
		t.Errorf("no routes: %q", got)
	}
}

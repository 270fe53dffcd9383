package nodestatus

import (
	"context"
	"net"
)

// Facts are what a Node reports about the machine it runs on. They are read
// again at every status update.
type Facts struct {
	// MachineID is /etc/machine-id; SystemUUID the firmware's product UUID
	// (MachineID when unreadable); BootID changes at every boot.
	MachineID, SystemUUID, BootID string
	// KernelVersion is uname's release ("6.1.0-18-amd64"); OSImage the
	// os-release PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)").
	KernelVersion, OSImage string
	// InternalIP is the address other nodes reach this one at, used when
	// Config.Addresses is empty.
	InternalIP string
	// CPUs is how many CPUs this process may run on.
	CPUs int
	// MemoryBytes is the host's memory (MemTotal); MemoryAvailableBytes what
	// can be had without swapping (MemAvailable).
	MemoryBytes, MemoryAvailableBytes int64
	// FSBytes and FSAvailableBytes are the size of the file system holding
	// Config.FSPath and what unprivileged users may still write to it;
	// FSInodes and FSInodesFree the same for its inodes.
	FSBytes, FSAvailableBytes int64
	FSInodes, FSInodesFree    int64
	// PIDLimit is how many processes and threads the host allows; PIDs how
	// many there are.
	PIDLimit, PIDs int64
}

// Host reads Facts; LocalHost reads them from this machine, tests feed their
// own.
type Host interface {
	// Facts returns the host's facts, fsPath naming the file system of the
	// kubelet's data.
	Facts(ctx context.Context, fsPath string) (Facts, error)
}

// LocalHost reads Facts from the machine this process runs on (Linux only).
type LocalHost struct{}

var _ Host = LocalHost{}

// firstIPv4 returns the first global unicast IPv4 address of the interfaces
// that are up and not loopback, in the order given, or "" if none has one.
func firstIPv4(ifaces []net.Interface) string {
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue // an interface going away while we look
		}
		for _, addr := range addrs {
			ipnet, ok := addr.(*net.IPNet)
			if !ok {
				continue
			}
			if ip := ipnet.IP.To4(); ip != nil && ip.IsGlobalUnicast() {
				return ip.String()
			}
		}
	}
	return ""
}

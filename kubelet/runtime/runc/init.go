package runc

import (
	"fmt"
	"os"
	"os/signal"

	// Registers the devices cgroup manager, without which libcontainer
	// refuses device rules.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor joins namespaces before the Go runtime starts
	// when this binary is re-executed as libcontainer's init.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
	"golang.org/x/sys/unix"
)

// The first argument with which this binary is re-executed.
const (
	initArg  = "init"          // libcontainer's container init (fixed by libcontainer)
	pauseArg = "runtime-pause" // the process holding a sandbox's namespaces
)

// Init serves the runtime's re-executed modes and never returns when
// os.Args asks for one of them: libcontainer's container init
// (`<binary> init`) and the sandbox holder (`<binary> runtime-pause HOSTNAME`).
// Otherwise it returns at once. Call it first thing in main (and in
// TestMain of tests that start containers).
func Init() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case initArg:
		// Only when libcontainer started us: a user's `berth init` goes on
		// to the command line as usual.
		if os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
			libcontainer.Init() // does not return
		}
	case pauseArg:
		os.Exit(pause(os.Args[2:]))
	}
}

// pause is the sandbox holder: started in fresh network, IPC and UTS (and
// maybe PID) namespaces, it sets the hostname, brings up loopback, reports
// "ok" (or the error) on stdout and then waits for SIGTERM or SIGKILL,
// reaping orphans when it is the PID namespace's init.
func pause(args []string) int {
	ready := os.Stdout
	if len(args) != 1 {
		fmt.Fprintln(ready, "usage: runtime-pause HOSTNAME")
		return 2
	}
	if err := pauseSetup(args[0]); err != nil {
		fmt.Fprintln(ready, err)
		return 1
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	fmt.Fprintln(ready, "ok")
	ready.Close()
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			return 0
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}

func pauseSetup(hostname string) error {
	if hostname != "" {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("setting hostname %q: %w", hostname, err)
		}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}

package runc

import (
	"os"

	// Registers the devices cgroup manager, without which libcontainer
	// refuses device rules.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor joins namespaces before the Go runtime starts
	// when this binary is re-executed as libcontainer's init.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// The first argument with which this binary is re-executed.
const (
	initArg = "init" // libcontainer's container init (fixed by libcontainer)
	// pauseArg names the process holding a sandbox's namespaces in ps; the
	// holder itself runs before Go does (pause_linux.go).
	pauseArg = "runtime-pause"
)

// Init serves libcontainer's container init and never returns when this
// binary was re-executed as one (`<binary> init`). Otherwise it returns at
// once. Call it first thing in main (and in TestMain of tests that start
// containers). The sandbox holder needs no call: it runs from a C
// constructor.
func Init() {
	// Only when libcontainer started us: a user's `berth init` goes on to
	// the command line as usual.
	if len(os.Args) > 1 && os.Args[1] == initArg && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		libcontainer.Init() // does not return
	}
}

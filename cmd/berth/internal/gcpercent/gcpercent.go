// Package gcpercent sets how often berth collects garbage, before most
// packages are initialised: most berth commands live for a fraction of a
// second, and initialising the Kubernetes, etcd and Helm packages alone
// allocates about 12 MB, which at Go's default (GOGC=100) costs five
// collections before main runs, ~10 ms of every command. It imports only the
// standard library: Go initialises a package as soon as its imports are and
// no ready package has a smaller import path, which puts this one after some
// 2.5 MB of allocation, before the first collection (due at 4 MB).
package gcpercent

import (
	"os"
	"runtime/debug"
)

// commands is the collector's target of short commands: they collect less
// often and finish ~20% sooner for a little more memory.
const commands = 400

func init() {
	if !userSet() {
		debug.SetGCPercent(commands)
	}
}

// LongRunning gives processes that serve until stopped (berth server and
// agent) Go's default, where memory matters more than a few milliseconds.
func LongRunning() {
	if !userSet() {
		debug.SetGCPercent(100)
	}
}

// userSet: GOGC, when set, rules every command.
func userSet() bool { return os.Getenv("GOGC") != "" }

// Command berth is one binary that installs and upgrades charts and runs the cluster
// they are installed into. This package holds the command tree: it parses flags,
// composes the components and prints; all behaviour lives in the other packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	// Sets the garbage collector's target before most packages are
	// initialised (see its doc).
	_ "berth.dev/berth/cmd/berth/internal/gcpercent"
	"berth.dev/berth/kubelet/runtime/runc"
)

func main() {
	// Re-executed as a container's init or a pod sandbox's holder, this
	// binary does that and never returns from here.
	runc.Init()
	// The Kubernetes libraries log through klog; send it where berth logs.
	klog.SetSlogLogger(slog.Default())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		stop()
		var exit exitCode
		if errors.As(err, &exit) {
			os.Exit(int(exit))
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// exitCode ends berth with that code and no message: a result a script asks
// for (diff --detailed-exitcode), not a failure.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

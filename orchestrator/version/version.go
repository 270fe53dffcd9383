// Package version tells which Kubernetes API berth speaks and which build of berth
// is running. It must not depend on any other berth package.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	apimachineryversion "k8s.io/apimachinery/pkg/version"
)

// Berth is the version of this build, set by the linker
// (-X berth.dev/berth/orchestrator/version.Berth=...); "dev" otherwise.
var Berth = "dev"

// Kubernetes returns the Kubernetes version whose API berth serves: that of the
// k8s.io/api module it is built with (k8s.io/api v0.37.2 is Kubernetes v1.37.2).
func Kubernetes() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/api" && strings.HasPrefix(dep.Version, "v0.") {
				return "v1." + strings.TrimPrefix(dep.Version, "v0.")
			}
		}
	}
	return "v1.37.0"
}

// Info is what /version answers: the Kubernetes version served, marked as berth's
// build of it, as k3s marks its own ("v1.37.2+berth").
func Info() apimachineryversion.Info {
	kube := Kubernetes()
	var major, minor string
	if parts := strings.SplitN(strings.TrimPrefix(kube, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	return apimachineryversion.Info{
		Major:        major,
		Minor:        minor,
		GitVersion:   kube + "+berth",
		GitCommit:    Berth,
		GitTreeState: "clean",
		GoVersion:    runtime.Version(),
		Compiler:     runtime.Compiler,
		Platform:     fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
	}
}

// Package runtime defines what the kubelet's pod sync asks of a container
// runtime on this host: pod sandboxes (the namespaces a pod's containers
// share) and the containers in them, with their lifecycle, logs and exec.
//
// It owns the interface and its value types only; kubelet/runtime/runc
// implements it with libcontainer. It must not talk to the API server or know
// about pods beyond the specs given here: the caller turns a Pod into a
// SandboxSpec and ContainerSpecs.
package runtime

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"
)

// Error categories, tested with errors.Is.
var (
	// ErrNotFound: no sandbox or container has that ID.
	ErrNotFound = errors.New("not found")
	// ErrInvalidSpec: a spec was refused before anything was changed.
	ErrInvalidSpec = errors.New("invalid spec")
	// ErrNotRunning: the operation needs a running container or sandbox.
	ErrNotRunning = errors.New("not running")
)

// Runtime runs pod sandboxes and containers on this host. Every method takes
// a context for cancellation; none blocks past it except where noted.
type Runtime interface {
	// RunSandbox creates a pod's shared namespaces and returns it ready.
	RunSandbox(ctx context.Context, spec SandboxSpec) (Sandbox, error)
	// StopSandbox ends the process holding the sandbox's namespaces (a
	// container still running keeps them alive: stop containers first).
	StopSandbox(ctx context.Context, id string) error
	// RemoveSandbox removes a stopped sandbox and every trace of it (cgroup,
	// /dev/shm mount, state); it stops it first if needed.
	RemoveSandbox(ctx context.Context, id string) error
	// Sandbox returns the current view of one sandbox.
	Sandbox(ctx context.Context, id string) (Sandbox, error)
	// Sandboxes lists every sandbox, including those found after a restart.
	Sandboxes(ctx context.Context) ([]Sandbox, error)

	// CreateContainer prepares a container in a sandbox: namespaces,
	// mounts and cgroup are set up and the process waits to be started.
	CreateContainer(ctx context.Context, sandboxID string, spec ContainerSpec) (string, error)
	// StartContainer runs a created container's process.
	StartContainer(ctx context.Context, id string) error
	// WaitContainer blocks until the container has exited (or ctx ends) and
	// returns how.
	WaitContainer(ctx context.Context, id string) (ExitStatus, error)
	// StopContainer sends SIGTERM, then SIGKILL after grace, and returns
	// once the container has exited.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// KillContainer sends sig to the container's main process (SIGKILL to
	// all of its processes).
	KillContainer(ctx context.Context, id string, sig syscall.Signal) error
	// RemoveContainer removes a container, killing it first if it runs,
	// with its cgroup, mounts and state. The log file is the caller's.
	RemoveContainer(ctx context.Context, id string) error
	// Container returns the current view of one container.
	Container(ctx context.Context, id string) (Container, error)
	// Containers lists every container, including those found after a restart.
	Containers(ctx context.Context) ([]Container, error)
	// Exec runs a further process in a running container and returns its
	// exit code once it has ended.
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)
}

// SandboxSpec describes a pod's sandbox.
type SandboxSpec struct {
	// Name, Namespace and UID identify the pod, for listing and logs.
	Name, Namespace, UID string
	// Hostname is set in the sandbox's UTS namespace.
	Hostname string
	// ShareProcessNamespace gives the pod one PID namespace, whose init is
	// the sandbox process (it reaps orphans).
	ShareProcessNamespace bool
	// HostNetwork keeps the host's network and UTS namespaces (Hostname is
	// then ignored).
	HostNetwork bool
	// Labels are kept with the sandbox and returned as given.
	Labels map[string]string
}

// SandboxState tells whether a sandbox's namespaces are held.
type SandboxState string

// Sandbox states.
const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// Sandbox is a pod's set of shared namespaces.
type Sandbox struct {
	ID    string
	Spec  SandboxSpec
	State SandboxState
	// PID is the host PID of the process holding the namespaces (0 once
	// stopped).
	PID int
	// NetNSPath is the network namespace to configure (CNI, bridge), valid
	// while State is Ready.
	NetNSPath string
	CreatedAt time.Time
}

// ContainerSpec describes one container of a sandbox.
type ContainerSpec struct {
	// Name and Attempt identify the container within its pod; Attempt
	// counts restarts.
	Name    string
	Attempt int
	Labels  map[string]string

	// Rootfs is the directory the image store prepared; it is used as is.
	Rootfs string
	// Args is the full command line (entrypoint and args resolved).
	Args       []string
	Env        []string
	WorkingDir string
	User       User

	// Capabilities are added to, or dropped from, the default set of
	// Docker and containerd. Names with or without CAP_, or ALL.
	Capabilities Capabilities
	// Privileged grants every capability and device and unmasks /proc and /sys.
	Privileged bool
	// NoNewPrivileges is allowPrivilegeEscalation=false.
	NoNewPrivileges bool
	ReadOnlyRootfs  bool

	// Mounts are bind mounts from the host (volumes, /etc/hosts,
	// /etc/resolv.conf, /etc/hostname, the termination log), in order.
	Mounts []Mount
	// Resources become the container's cgroup limits.
	Resources Resources

	// LogPath is the CRI-format log file for stdout and stderr.
	LogPath string
}

// User is the identity of a container's process.
type User struct {
	UID, GID uint32
	// Groups are supplementary group IDs.
	Groups []uint32
}

// Capabilities are changes to the default capability set.
type Capabilities struct {
	Add, Drop []string
}

// Mount is a bind mount into a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Resources are a container's requests and limits; zero means unset.
type Resources struct {
	// CPURequestMilli sets cpu shares (weight), CPULimitMilli the CFS quota.
	CPURequestMilli, CPULimitMilli int64
	// MemoryLimitBytes is the memory limit (OOM kill beyond it).
	MemoryLimitBytes int64
	// PidsLimit bounds the number of processes.
	PidsLimit int64
}

// ContainerState is where a container is in its lifecycle.
type ContainerState string

// Container states.
const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
)

// Container is the current view of a container.
type Container struct {
	ID        string
	SandboxID string
	Spec      ContainerSpec
	State     ContainerState
	// PID is the host PID of the main process while it runs.
	PID       int
	CreatedAt time.Time
	StartedAt time.Time
	// Exit is set once State is Exited.
	Exit *ExitStatus
}

// ExitStatus is how a container ended.
type ExitStatus struct {
	// Code is the exit code, or 128+signal when killed by a signal.
	Code int
	// Signal is the signal that killed the process, if any.
	Signal syscall.Signal
	// OOMKilled is set when the kernel's OOM killer acted in the
	// container's cgroup.
	OOMKilled bool
	// Unknown is set when the process ended while nobody was its parent
	// (after a restart of the runtime): Code and Signal are then unknown.
	Unknown    bool
	FinishedAt time.Time
}

// ExecSpec describes a process to run in a running container.
type ExecSpec struct {
	Args       []string
	Env        []string
	WorkingDir string
	// User is the container's user when nil.
	User *User
	// TTY gives the process a terminal on Stdin/Stdout (Stderr unused).
	TTY bool
	// Resize carries the terminal's size, first and on every change
	// (TTY only); nil keeps the kernel's default.
	Resize <-chan TerminalSize
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// TerminalSize is the size of an exec's terminal in characters.
type TerminalSize struct {
	Width, Height uint16
}

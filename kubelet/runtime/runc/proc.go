package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// procStartTime is the start time of pid in clock ticks since boot (field 22
// of /proc/PID/stat); with the pid it names one process for good.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: fields
	// are counted after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	const startTimeField = 22 - 3 // fields 3.. follow the name
	if len(f) <= startTimeField {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[startTimeField], 10, 64)
}

// pidHandle is a pidfd on a process known by pid and start time; it stays
// valid (never names another process) after the process ends.
type pidHandle struct {
	f *os.File
}

// openPID opens pid if it still is the process that started at start; it
// returns os.ErrProcessDone if that process is gone.
func openPID(pid int, start uint64) (*pidHandle, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil, os.ErrProcessDone
	}
	if err != nil {
		return nil, fmt.Errorf("opening pid %d: %w", pid, err)
	}
	// Check the start time after opening: a pidfd never moves to a new
	// process, so a match now means the handle is the right process.
	if st, err := procStartTime(pid); err != nil || st != start {
		unix.Close(fd)
		return nil, os.ErrProcessDone
	}
	return &pidHandle{f: os.NewFile(uintptr(fd), "pidfd")}, nil
}

// signal sends sig; a process that has ended is not an error.
func (h *pidHandle) signal(sig unix.Signal) error {
	rc, err := h.f.SyscallConn()
	if err != nil {
		return err
	}
	// Not Fd: it would make the descriptor blocking, and wait's deadline
	// useless.
	if cerr := rc.Control(func(fd uintptr) { err = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); cerr != nil {
		return cerr
	}
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// wait blocks until the process ends (it need not be our child), ctx ends or
// the handle is closed.
func (h *pidHandle) wait(ctx context.Context) error {
	rc, err := h.f.SyscallConn()
	if err != nil {
		return err
	}
	// Clear the deadline an earlier, cancelled wait left.
	if err := h.f.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = h.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var exited bool
	err = rc.Read(func(fd uintptr) bool {
		n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		exited = n > 0
		return exited
	})
	if exited {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (h *pidHandle) close() error { return h.f.Close() }

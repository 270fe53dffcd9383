package runc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime/crilog"
)

// A container's stdout and stderr are FIFOs in its state dir that the
// container holds open read-write: it never gets EPIPE while this process is
// down (the pipe buffers, then blocks), and a restarted process opens the read
// ends again and goes on copying into the log.

// logCopier copies a container's two FIFOs into its CRI log.
type logCopier struct {
	done sync.WaitGroup
	// readers are the read ends, closed to stop copying early (detach).
	readers []*os.File
	// closed is closed once both copies ended and the files are closed.
	closed chan struct{}
}

// wait blocks until both streams reached EOF (every writer closed) and the
// log is closed.
func (l *logCopier) wait() {
	<-l.closed
}

// detach stops copying without waiting for the container.
func (l *logCopier) detach() {
	for _, f := range l.readers {
		_ = f.Close()
	}
	<-l.closed
}

// startLogs makes the FIFOs in dir, starts copying them into logPath and
// returns the container's read-write ends for its stdout and stderr.
func (r *Runtime) startLogs(dir, logPath string) (*logCopier, *os.File, *os.File, error) {
	var container [2]*os.File
	for i, name := range []string{"stdout", "stderr"} {
		path := filepath.Join(dir, name)
		if err := unix.Mkfifo(path, 0o600); err != nil {
			return nil, nil, nil, fmt.Errorf("making %s fifo: %w", name, err)
		}
		// Blocking, so that the container's writes block rather than fail.
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("opening %s fifo: %w", name, err)
		}
		// Room for 1 MiB of output while nobody reads (restarts).
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, 1<<20)
		container[i] = os.NewFile(uintptr(fd), name)
	}
	l, err := r.copyLogs(dir, logPath)
	if err != nil {
		container[0].Close()
		container[1].Close()
		return nil, nil, nil, err
	}
	return l, container[0], container[1], nil
}

// copyLogs opens the read ends of dir's FIFOs and copies them into logPath
// until every writer has closed them.
func (r *Runtime) copyLogs(dir, logPath string) (*logCopier, error) {
	w, err := crilog.Open(logPath, crilog.Options{MaxBytes: r.cfg.LogMaxBytes, MaxFiles: r.cfg.LogMaxFiles})
	if err != nil {
		return nil, err
	}
	l := &logCopier{closed: make(chan struct{})}
	for _, s := range []crilog.Stream{crilog.Stdout, crilog.Stderr} {
		// Non-blocking, so the read goes through Go's poller and Close
		// interrupts it.
		fd, err := unix.Open(filepath.Join(dir, string(s)), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, f := range l.readers {
				f.Close()
			}
			l.done.Wait()
			w.Close()
			return nil, fmt.Errorf("opening %s fifo: %w", s, err)
		}
		f := os.NewFile(uintptr(fd), string(s))
		l.readers = append(l.readers, f)
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			if err := crilog.Copy(w, s, f); err != nil && !errors.Is(err, os.ErrClosed) {
				r.log.Warn("copying container output", "log", logPath, "err", err)
			}
		}()
	}
	go func() {
		l.done.Wait()
		for _, f := range l.readers {
			f.Close()
		}
		w.Close()
		close(l.closed)
	}()
	return l, nil
}

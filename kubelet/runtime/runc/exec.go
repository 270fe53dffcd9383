package runc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime"
)

// Exec runs spec in running container id, streaming its stdio, and returns
// its exit code (128+signal if killed). Ending ctx kills the process.
func (r *Runtime) Exec(ctx context.Context, id string, spec runtime.ExecSpec) (int, error) {
	c, err := r.lookup(id)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) {
		return 0, fmt.Errorf("exec %q in container %s: %w", spec.Args, id, err)
	}
	if len(spec.Args) == 0 {
		return fail(fmt.Errorf("%w: no command", runtime.ErrInvalidSpec))
	}
	if v := r.view(c); v.State != runtime.ContainerRunning {
		return fail(runtime.ErrNotRunning)
	}
	user := c.rec.Spec.User
	if spec.User != nil {
		user = *spec.User
	}
	cwd := spec.WorkingDir
	if cwd == "" {
		cwd = c.rec.Spec.WorkingDir
	}
	p, err := newProcess(spec.Args, spec.Env, cwd, user)
	if err != nil {
		return fail(err)
	}
	var streams execIO
	defer streams.closeAll()
	if spec.TTY {
		parent, child, err := socketPair()
		if err != nil {
			return fail(err)
		}
		defer parent.Close()
		p.ConsoleSocket = child
		err = c.lc.Run(p)
		child.Close()
		if err != nil {
			return fail(err)
		}
		console, err := recvFD(parent)
		if err != nil {
			_ = p.Signal(unix.SIGKILL)
			_, _ = p.Wait()
			return fail(fmt.Errorf("receiving the terminal: %w", err))
		}
		streams.ours = append(streams.ours, console)
		if spec.Resize != nil {
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go resizeTerminal(rctx, console, spec.Resize)
		}
		streams.feed(console, spec.Stdin, false)
		streams.drain(spec.Stdout, console)
	} else {
		if err := streams.pipes(p, spec); err != nil {
			return fail(err)
		}
		err := c.lc.Run(p)
		streams.closeChildEnds()
		if err != nil {
			return fail(err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = p.Signal(unix.SIGKILL) })
	defer stop()
	ps, err := p.Wait()
	var ee *exec.ExitError
	if ps == nil && errors.As(err, &ee) {
		ps = ee.ProcessState
	}
	streams.finish()
	if ps == nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	return exitFromWaitStatus(ps.Sys().(syscall.WaitStatus)).Code, nil
}

// execDrainTimeout is how long an exec's output is still copied once the
// process has ended, while a background process it left holds the streams.
const execDrainTimeout = time.Second

// execIO connects an exec's streams through descriptors of ours, so that
// neither a caller's stdin left open nor a background process holding
// stdout keeps Exec from returning once the process has ended.
type execIO struct {
	child  []*os.File // the process's ends, closed once it started
	ours   []*os.File // our ends, closed at the end
	stdin  *os.File   // the stdin pipe's write end, closed when the process ends
	copied sync.WaitGroup
	// writeMu serialises writes to the caller's writers.
	writeMu sync.Mutex
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// pipes gives the process a pipe for each stream the caller set.
func (x *execIO) pipes(p *libcontainer.Process, spec runtime.ExecSpec) error {
	if spec.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		x.child, x.ours = append(x.child, r), append(x.ours, w)
		p.Stdin = r
		x.stdin = w
		x.feed(w, spec.Stdin, true)
	}
	for _, s := range []struct {
		dst  io.Writer
		proc *io.Writer
	}{{spec.Stdout, &p.Stdout}, {spec.Stderr, &p.Stderr}} {
		if s.dst == nil {
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		x.child, x.ours = append(x.child, w), append(x.ours, r)
		*s.proc = w
		x.drain(s.dst, r)
	}
	return nil
}

// feed copies the caller's stdin to w; closeAtEOF passes its end on (a
// pipe; a terminal stays open for the output).
func (x *execIO) feed(w *os.File, stdin io.Reader, closeAtEOF bool) {
	if stdin == nil {
		return
	}
	go func() {
		_, _ = io.Copy(w, stdin)
		if closeAtEOF {
			_ = w.Close()
		}
	}()
}

// drain copies r to dst until EOF, or until finish gives up.
func (x *execIO) drain(dst io.Writer, r *os.File) {
	if dst == nil {
		return
	}
	x.copied.Add(1)
	go func() {
		defer x.copied.Done()
		// A terminal ends with EIO once the process is gone.
		_, _ = io.Copy(writerFunc(func(b []byte) (int, error) {
			// Stdout and stderr may be one writer (often not safe for
			// concurrent use).
			x.writeMu.Lock()
			defer x.writeMu.Unlock()
			return dst.Write(b)
		}), r)
	}()
}

func (x *execIO) closeChildEnds() {
	for _, f := range x.child {
		_ = f.Close()
	}
}

// finish waits a while for the output to end, then closes our ends.
func (x *execIO) finish() {
	if x.stdin != nil {
		_ = x.stdin.Close()
	}
	done := make(chan struct{})
	go func() { x.copied.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(execDrainTimeout):
	}
	x.closeAll()
	<-done
}

func (x *execIO) closeAll() {
	for _, f := range x.ours {
		_ = f.Close()
	}
}

// resizeTerminal applies each size from sizes to the terminal until ctx
// ends or sizes is closed.
func resizeTerminal(ctx context.Context, console *os.File, sizes <-chan runtime.TerminalSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			rc, err := console.SyscallConn()
			if err != nil {
				return
			}
			// Control, unlike Fd, is safe against the Close that ends Exec.
			err = rc.Control(func(fd uintptr) {
				_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: sz.Width, Row: sz.Height})
			})
			if err != nil {
				return
			}
		}
	}
}

func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("making console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// recvFD receives the one file descriptor libcontainer's init sends over
// sock (the terminal's master side).
func recvFD(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, 0)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("got %d control messages, want 1", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, err
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("got %d descriptors, want 1", len(fds))
	}
	// Non-blocking, so that closing it ends a pending read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

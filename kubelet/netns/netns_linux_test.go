package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNS is a fresh network namespace held by a locked thread that runs
// functions in it on request.
type testNS struct {
	path string // /proc/self/task/TID/ns/net
	tid  int
	ino  uint64
	run  chan func()
}

// newTestNS creates a network namespace with loopback up. The holding thread
// never returns to the scheduler: at cleanup its goroutine exits still locked,
// the runtime ends the thread, and the namespace goes once the test's sockets
// in it are closed too.
func newTestNS(t *testing.T) *testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	ns := &testNS{run: make(chan func())}
	ready := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves the host's namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare: %w", err)
			return
		}
		ns.tid = unix.Gettid()
		ns.path = "/proc/self/task/" + strconv.Itoa(ns.tid) + "/ns/net"
		var st unix.Stat_t
		if err := unix.Stat(ns.path, &st); err != nil {
			ready <- err
			return
		}
		ns.ino = st.Ino
		ready <- setLoopbackUp()
		for {
			select {
			case f := <-ns.run:
				f()
			case <-stop:
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("creating network namespace: %v", err)
	}
	t.Cleanup(func() { close(stop) })
	return ns
}

// do runs f on the namespace's thread.
func (ns *testNS) do(f func()) {
	done := make(chan struct{})
	ns.run <- func() { f(); close(done) }
	<-done
}

func setLoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// greeter accepts connections on l and writes name to each.
func greeter(t *testing.T, l net.Listener, name string) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(name + "\n"))
			c.Close()
		}
	}()
}

// listenBoth listens on the same 127.0.0.1 port inside ns and on the host,
// each answering with its own name, and returns the port.
func listenBoth(t *testing.T, ns *testNS) int {
	t.Helper()
	for range 20 {
		var (
			inner net.Listener
			err   error
		)
		ns.do(func() { inner, err = net.Listen("tcp", "127.0.0.1:0") })
		if err != nil {
			t.Fatalf("listening in the namespace: %v", err)
		}
		port := inner.Addr().(*net.TCPAddr).Port
		outer, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil { // taken on the host; try another
			inner.Close()
			continue
		}
		greeter(t, inner, "pod")
		greeter(t, outer, "host")
		return port
	}
	t.Fatal("no port free both in the namespace and on the host")
	return 0
}

func greeting(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading from %v: %v", c.RemoteAddr(), err)
	}
	return strings.TrimSpace(s)
}

func TestDialReachesNamespaceLoopback(t *testing.T) {
	ns := newTestNS(t)
	port := listenBoth(t, ns)
	p := strconv.Itoa(port)
	tests := []struct {
		name    string
		nsPath  string
		network string
		address string
		want    string
	}{
		{"pod namespace", ns.path, "tcp", "127.0.0.1:" + p, "pod"},
		{"pod namespace tcp4", ns.path, "tcp4", "127.0.0.1:" + p, "pod"},
		{"pod namespace empty host", ns.path, "tcp", ":" + p, "pod"},
		{"pod namespace localhost", ns.path, "tcp4", "localhost:" + p, "pod"},
		{"host, empty path", "", "tcp", "127.0.0.1:" + p, "host"},
		// Not /proc/self/ns/net: that is the main thread's, and the main
		// thread may be the one holding the test namespace.
		{"host namespace by path", "/proc/thread-self/ns/net", "tcp", "127.0.0.1:" + p, "host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, tc.nsPath, tc.network, tc.address)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.RemoteAddr().(*net.TCPAddr).Port; got != port {
				t.Errorf("remote port %d, want %d", got, port)
			}
			if got := greeting(t, c); got != tc.want {
				t.Errorf("reached the %q listener, want %q", got, tc.want)
			}
		})
	}
}

func TestDialOnlyInNamespace(t *testing.T) {
	ns := newTestNS(t)
	var (
		l   net.Listener
		err error
	)
	ns.do(func() { l, err = net.Listen("tcp", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	greeter(t, l, "pod")
	addr := l.Addr().String()

	c, err := Dial(context.Background(), ns.path, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := greeting(t, c); got != "pod" {
		t.Errorf("got %q from the namespace", got)
	}
	// The same address on the host is some other socket or none at all.
	c, err = Dial(context.Background(), "", "tcp", addr)
	if err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dialing %s on the host: %v, want connection refused", addr, err)
		}
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, _ := bufio.NewReader(c).ReadString('\n'); strings.TrimSpace(b) == "pod" {
		t.Error("dialing on the host reached the namespace's listener")
	}
}

func TestDialRefused(t *testing.T) {
	ns := newTestNS(t)
	var (
		l   net.Listener
		err error
	)
	ns.do(func() { l, err = net.Listen("tcp", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), ns.path, "tcp", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error = %v, want connection refused", err)
	}
	if want := "dial tcp " + addr + ": connect: connection refused"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestDialIPv6(t *testing.T) {
	ns := newTestNS(t)
	var (
		l   net.Listener
		err error
	)
	ns.do(func() { l, err = net.Listen("tcp6", "[::1]:0") })
	if err != nil {
		t.Skipf("no IPv6 loopback in the namespace: %v", err)
	}
	greeter(t, l, "pod6")
	for _, network := range []string{"tcp", "tcp6"} {
		c, err := Dial(context.Background(), ns.path, network, l.Addr().String())
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if got := greeting(t, c); got != "pod6" {
			t.Errorf("%s: got %q", network, got)
		}
	}
	if _, err := Dial(context.Background(), ns.path, "tcp4", l.Addr().String()); err == nil || !strings.Contains(err.Error(), "no suitable address") {
		t.Errorf("tcp4 to an IPv6 address: error = %v, want no suitable address", err)
	}
}

// stuckListener returns the address of a listener in ns whose accept queue is
// full, so that further connects hang: with a backlog of 0 Linux queues one
// connection and drops later SYNs.
func stuckListener(t *testing.T, ns *testNS) string {
	t.Helper()
	var (
		fd  int
		err error
	)
	ns.do(func() { fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		c, err := Dial(ctx, ns.path, "tcp", addr)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return addr
		}
		if err != nil {
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatal("connects to a listener with a full accept queue still succeed")
	return ""
}

func TestDialContext(t *testing.T) {
	ns := newTestNS(t)
	addr := stuckListener(t, ns)

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, ns.path, "tcp", addr)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want deadline exceeded", err)
		}
		if !strings.HasPrefix(err.Error(), "dial tcp "+addr+": ") {
			t.Errorf("error = %q, want it to name the address", err)
		}
	})
	t.Run("cancel while connecting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := Dial(ctx, ns.path, "tcp", addr)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want canceled", err)
		}
	})
	t.Run("canceled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Dial(ctx, ns.path, "tcp", addr)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want canceled", err)
		}
	})
}

// TestDialLeavesThreadsInHostNamespace dials concurrently and then checks that
// no thread of the process but the test's own holder is in the namespace.
func TestDialLeavesThreadsInHostNamespace(t *testing.T) {
	ns := newTestNS(t)
	var (
		l   net.Listener
		err error
	)
	ns.do(func() { l, err = net.Listen("tcp", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	greeter(t, l, "pod")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			c, err := Dial(context.Background(), ns.path, "tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Name() == strconv.Itoa(ns.tid) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/proc/self/task", task.Name(), "ns/net"), &st); err != nil {
			continue // the thread ended
		}
		if st.Ino == ns.ino {
			t.Errorf("thread %s was left in the pod's network namespace", task.Name())
		}
	}
}

func TestDialBadNamespace(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "not-a-namespace")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name    string
		nsPath  string
		network string
		want    string
		is      error
	}{
		{name: "missing", nsPath: missing, network: "tcp", want: "dialing 127.0.0.1:80 in network namespace " + missing + ": open " + missing + ": no such file or directory", is: fs.ErrNotExist},
		{name: "regular file", nsPath: regular, network: "tcp", want: regular + " is not a namespace file"},
		{name: "other namespace type", nsPath: "/proc/self/ns/uts", network: "tcp", want: "/proc/self/ns/uts is not a network namespace"},
		{name: "unsupported network", nsPath: "/proc/self/ns/net", network: "udp", want: `unsupported network "udp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(context.Background(), tc.nsPath, tc.network, "127.0.0.1:80")
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}
